/**
 * Where pinned references live and where their pull requests go: GitHub in Azure (Octokit, GitHub App
 * installation auth), local git repositories on the stack (a "pull request" is a pushed branch plus a
 * stored record).
 */

/** A text file of a repository at the scanned revision. */
export interface ForgeFile {
  readonly path: string;
  readonly text: string;
  /**
   * Set by `scan` on a file the forge can read but not change, with why (e.g. `needs the GitHub App's
   * workflows permission`): its pins are still found, but no change request may hold it.
   */
  readonly readOnly?: string;
}

export interface SkippedFile {
  readonly path: string;
  /** Why it was not read: `too large`, `binary`, `symlink`, `outside the repository`, … */
  readonly reason: string;
}

export interface RepositoryScan {
  readonly repository: string;
  /** The default branch's head commit the files were read at. */
  readonly revision: string;
  /** True when the repository has not changed since `since`: `files` is then empty (one call spent). */
  readonly unchanged: boolean;
  /** Candidate files (Dockerfiles, Containerfiles, compose, Kubernetes, Helm values, workflow files). */
  readonly files: readonly ForgeFile[];
  readonly skipped: readonly SkippedFile[];
  /** Opaque token for the next conditional scan (an ETag, or the head commit). */
  readonly cursor: string;
  /** API calls this scan spent (GitHub REST requests; 0 for local git). */
  readonly calls: number;
  /** Rate limit left after the scan, when the forge reports one. */
  readonly rateLimitRemaining: number | null;
}

export type PullRequestState = "open" | "closed" | "merged";

export interface PullRequest {
  readonly repository: string;
  /** The head branch, e.g. `ripple/docker.io-library-alpine-3.20`. */
  readonly branch: string;
  readonly number: number;
  readonly url: string;
  readonly state: PullRequestState;
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  /** The head commit of the branch. */
  readonly headSha: string;
  /** The default-branch commit the change was made on. */
  readonly baseSha: string;
}

export interface ChangeRequest {
  readonly repository: string;
  readonly branch: string;
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  /** Every changed file with its complete new text; committed together as one commit. */
  readonly files: readonly ForgeFile[];
  /** The default-branch commit the new texts were computed from (the commit's parent). */
  readonly baseSha: string;
}

export interface Forge {
  /**
   * Lists and reads the candidate files of `repository` at its default branch's head. With `since` (the
   * `cursor` of an earlier scan) an unchanged repository costs one conditional request and answers
   * `unchanged: true`. Files that are too large, binary, symlinks or outside the tree are skipped with a
   * reason. @throws UpstreamError (retryable for network, 429, 5xx; secondary rate limits are waited out first).
   */
  scan(repository: string, options?: { since?: string }): Promise<RepositoryScan>;
  /**
   * Creates or moves `branch` to one new commit on `baseSha` holding every file of the request, and
   * opens the pull request, or updates the open one of that branch in place (title, body, labels).
   * Idempotent per (repository, branch). @throws UpstreamError as for `scan`; ValidationError, before
   * any write, for a file the forge cannot change (one its scan reports `readOnly`).
   */
  proposeChange(request: ChangeRequest): Promise<PullRequest>;
  /** The newest pull request of `branch` (open, closed or merged); null when there is none. */
  findPullRequest(repository: string, branch: string): Promise<PullRequest | null>;
}
