import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { AppError, UpstreamError, ValidationError } from "../../errors.js";
import type { SourceRepositories } from "../../ports/source-repository.js";

const MAX_FILE_BYTES = 1024 * 1024;

/**
 * SourceRepositories over git repositories on this machine (bare or with a work tree), read with
 * `git show <revision>:<path>` so the work tree's state never matters. Only the repositories named in
 * `repositories` (paths) are read.
 */
export function createLocalGitSource(options: { repositories: readonly string[]; git?: string }): SourceRepositories {
  const allowed = new Set(options.repositories.filter((repository) => repository.startsWith("/")).map((repository) => resolve(repository)));
  const git = options.git ?? "git";
  const canRead = (repository: string): boolean => repository.startsWith("/") && allowed.has(resolve(repository));
  return {
    canRead,
    async readFile(repository, revision, path) {
      if (!canRead(repository)) return null;
      if (revision.startsWith("-") || /[\s:^~]|\.\./.test(revision) || revision === "") {
        throw new ValidationError(`revision "${revision}" is not a plain branch, tag or commit`, [{ path: "revision", message: "not a plain ref" }]);
      }
      const normalized = path.replace(/^\.\//, "");
      if (normalized.startsWith("/") || normalized.split("/").includes("..") || normalized === "") {
        throw new ValidationError(`path "${path}" leaves the repository`, [{ path: "path", message: "must be relative, without .." }]);
      }
      return new Promise((resolvePromise, reject) => {
        execFile(
          git,
          ["-C", resolve(repository), "show", `${revision}:${normalized}`],
          { maxBuffer: MAX_FILE_BYTES + 1, encoding: "buffer", env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } },
          (error, stdout, stderr) => {
            if (error && (error as NodeJS.ErrnoException & { code?: unknown }).code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
              reject(new AppError("file_too_large", `${repository}:${revision}:${normalized} is over ${MAX_FILE_BYTES} bytes`));
            } else if (error) {
              const text = stderr.toString("utf8");
              if (/does not exist|exists on disk, but not in|invalid object name|unknown revision|bad revision|not a git repository|path .* does not exist/i.test(text)) resolvePromise(null);
              else reject(new UpstreamError("git", `git show failed for ${repository}: ${text.split("\n")[0] ?? "error"}`, { retryable: true }));
            } else {
              resolvePromise(stdout.toString("utf8"));
            }
          },
        );
      });
    },
  };
}
