/** `owner/name` of a GitHub repository given as `owner/name` or `https://github.com/owner/name[.git]`; null otherwise. Pure. */
export function gitHubName(repository: string): string | null {
  const match = /^(?:https:\/\/github\.com\/)?([\w.-]+\/[\w.-]+?)(?:\.git)?$/i.exec(repository);
  return match ? match[1]! : null;
}
