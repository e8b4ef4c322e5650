import type { Octokit } from "@octokit/rest";
import { AppError, UpstreamError, ValidationError } from "../../errors.js";
import type { SourceArchives } from "../../ports/image-builder.js";
import { GITHUB_SERVICE as SERVICE, answeredWith, toGitHubError } from "./github-errors.js";

/** The largest tarball read into memory: a build context, not a monorepo's history. */
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;

export interface GitHubSourceArchivesOptions {
  /** The installation's client ({@link createGitHubOctokit}); its token never leaves this adapter. */
  readonly octokit: Octokit;
  /** GitHub's `owner/name` of a repository served here, as a recipe names it; null for any other. */
  readonly fullNameOf: (repository: string) => string | null;
}

/**
 * {@link SourceArchives} over GitHub's `GET /repos/{owner}/{repo}/tarball/{ref}` with the App's
 * installation token (Octokit follows GitHub's redirect to codeload). The archive holds one top-level
 * folder, `owner-repo-sha/`.
 * @throws (download) ValidationError for an empty, spaced or `..` revision; AppError `source_not_found`
 * for an unknown repository or revision (404, 422) and `source_too_large` over 512 MiB; UpstreamError
 * (`github`), retryable for network errors, 408, 429 and 5xx, never carrying the request (its token).
 */
export function createGitHubSourceArchives(options: GitHubSourceArchivesOptions): SourceArchives {
  return {
    has: (repository) => options.fullNameOf(repository) !== null,
    async download(repository, revision) {
      const fullName = options.fullNameOf(repository);
      if (fullName === null) throw new AppError("source_not_found", `${repository} is not a GitHub repository of the App`, { retryable: false, details: { repository } });
      if (revision === "" || revision.includes("..") || /\s/.test(revision)) {
        throw new ValidationError(`revision "${revision}" is not a plain branch, tag or commit`, [{ path: "revision", message: "not a plain ref" }]);
      }
      const [owner, repo] = fullName.split("/") as [string, string];
      let data: unknown;
      try {
        data = (await options.octokit.rest.repos.downloadTarballArchive({ owner, repo, ref: revision })).data;
      } catch (error) {
        throw archiveError(error, fullName, revision);
      }
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : null;
      if (bytes === null) throw new UpstreamError(SERVICE, `downloading ${fullName} at ${revision} answered no archive`, { status: null, retryable: false });
      if (bytes.byteLength > MAX_ARCHIVE_BYTES) throw new AppError("source_too_large", `the source of ${fullName} at ${revision} is over ${MAX_ARCHIVE_BYTES} bytes`, { retryable: false, details: { repository } });
      return bytes;
    },
  };
}

/** The failure without the Octokit error, which holds the request and its token. */
function archiveError(error: unknown, fullName: string, revision: string): Error {
  if (answeredWith(error, [404, 422])) {
    return new AppError("source_not_found", `${fullName} at ${revision} was not found on GitHub`, { retryable: false, details: { repository: fullName, revision } });
  }
  return toGitHubError(error, `downloading ${fullName} at ${revision}`);
}
