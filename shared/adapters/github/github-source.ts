import type { Octokit } from "@octokit/rest";
import { AppError, ValidationError } from "../../errors.js";
import type { SourceRepositories } from "../../ports/source-repository.js";
import { answeredWith, toGitHubError } from "./github-errors.js";

const MAX_FILE_BYTES = 1024 * 1024;
/** Git's mode of a symbolic link: its blob is the link's target, not a file's text. */
const SYMLINK_MODE = "120000";

export interface GitHubSourceOptions {
  /** The installation's client ({@link createGitHubOctokit}). */
  readonly octokit: Octokit;
  /** The configured repositories this adapter reads: the name as configured → GitHub's `owner/name`. */
  readonly repositories: ReadonlyMap<string, string>;
}

/**
 * SourceRepositories over GitHub's git data API, for the configured GitHub repositories: the tree of the
 * revision (`GET git/trees/{revision}` takes a branch, tag or commit), one tree per folder of the path,
 * then the file's blob. Reads `1 + depth` objects; never a recursive tree, whatever the repository's size.
 * A missing revision, folder or file (404 / 409 empty repository / 422) is null, as is a symlink or a
 * submodule at the path.
 * @throws ValidationError for a path leaving the repository or an empty or `..` revision; AppError
 * `file_too_large` over 1 MiB; UpstreamError (`github`), retryable for network errors, 408, 429 and 5xx.
 */
export function createGitHubSource(options: GitHubSourceOptions): SourceRepositories {
  const { octokit } = options;
  const canRead = (repository: string): boolean => options.repositories.has(repository);

  return {
    canRead,
    async readFile(repository, revision, path) {
      const fullName = options.repositories.get(repository);
      if (fullName === undefined) return null;
      const segments = checkPath(path);
      checkRevision(revision);
      const [owner, repo] = fullName.split("/") as [string, string];
      let treeSha = revision;
      for (const [depth, segment] of segments.entries()) {
        const listing = await readOrNull(`read tree of ${fullName}`, () => octokit.rest.git.getTree({ owner, repo, tree_sha: treeSha }));
        const entry = listing?.tree.find((candidate) => candidate.path === segment);
        if (entry?.sha === undefined) return null;
        if (depth < segments.length - 1) {
          if (entry.type !== "tree") return null;
          treeSha = entry.sha;
          continue;
        }
        if (entry.type !== "blob" || entry.mode === SYMLINK_MODE) return null;
        if ((entry.size ?? 0) > MAX_FILE_BYTES) throw new AppError("file_too_large", `${fullName}:${revision}:${path} is over ${MAX_FILE_BYTES} bytes`);
        const blob = await readOrNull(`read blob of ${fullName}`, () => octokit.rest.git.getBlob({ owner, repo, file_sha: entry.sha! }));
        if (blob === null) return null;
        return Buffer.from(blob.content, blob.encoding === "base64" ? "base64" : "utf8").toString("utf8");
      }
      return null;
    },
  };
}

function checkPath(path: string): string[] {
  const segments = path.replace(/^\.\//, "").split("/");
  if (path.startsWith("/") || segments.includes("..") || segments.some((segment) => segment === "")) {
    throw new ValidationError(`path "${path}" leaves the repository`, [{ path: "path", message: "must be relative, without .. or empty segments" }]);
  }
  return segments;
}

function checkRevision(revision: string): void {
  if (revision === "" || revision.includes("..") || /\s/.test(revision)) {
    throw new ValidationError(`revision "${revision}" is not a plain branch, tag or commit`, [{ path: "revision", message: "not a plain ref" }]);
  }
}

/** The response's data, or null when GitHub says the object is not there; any other failure as an UpstreamError. */
async function readOrNull<T>(action: string, read: () => Promise<{ data: T }>): Promise<T | null> {
  try {
    return (await read()).data;
  } catch (error) {
    if (answeredWith(error, [404, 409, 422])) return null;
    throw toGitHubError(error, action);
  }
}
