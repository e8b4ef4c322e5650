/**
 * Read access to the source of configured git repositories (local repositories on the stack; GitHub in
 * Azure, with the forge of issue #4). Used to read the Dockerfile an image was built from.
 */
export interface SourceRepositories {
  /** Whether `repository` is one this adapter may read (configured, and of a kind it serves). */
  canRead(repository: string): boolean;
  /**
   * The text of `path` at `revision` (branch, tag or commit) of `repository`; null when the repository is
   * not readable here, or the revision or file does not exist. Read only; idempotent.
   * @throws AppError `file_too_large` over 1 MiB; ValidationError for a path or revision that could escape
   * (`..`, absolute paths, option-like revisions); retryable UpstreamError when git itself fails.
   */
  readFile(repository: string, revision: string, path: string): Promise<string | null>;
}
