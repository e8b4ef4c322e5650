import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { classifyPinFile } from "../../domain/pins.js";
import { AppError, ConflictError, UpstreamError, ValidationError } from "../../errors.js";
import type { ChangeRequest, Forge, ForgeFile, PullRequest, PullRequestState, RepositoryScan, SkippedFile } from "../../ports/forge.js";
import {
  createPullRequestRecord,
  readPullRequestRecord,
  readPullRequestRecords,
  withPullRequestLock,
  writePullRequestRecord,
  type PullRequestRecord,
} from "./pull-request-records.js";
import { findGitDir, gitText, runGit } from "./run-git.js";

const MAX_FILE_BYTES = 1024 * 1024;
const commitShaPattern = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Options of {@link createLocalGitForge}. */
export interface LocalGitForgeOptions {
  /** Absolute paths of the repositories (bare or with a work tree) served; any other is refused. */
  readonly repositories: readonly string[];
  /** Labels every pull request carries besides the request's own. */
  readonly labels?: readonly string[];
  /** The clock of the records' `createdAt` and `updatedAt`. */
  readonly now?: () => Date;
}

/**
 * The Forge over git repositories on this machine. Everything goes through git plumbing on the object
 * database and refs (a temporary index file builds trees), so the work tree, the index and `HEAD` of a
 * repository are never touched. A pull request is a branch `refs/heads/<branch>` plus a record in
 * `<gitdir>/ripple/pulls/<number>.json` (see {@link closePullRequest} and {@link mergePullRequest} for
 * the maintainer's side). Commits are made by `Ripple <ripple@localhost>`.
 *
 * Every method throws AppError `repository_not_configured` for a repository not in `repositories`,
 * AppError `repository_not_found` when a configured path is not a git repository, and UpstreamError
 * (`git`, retryable) when git fails.
 */
export function createLocalGitForge(options: LocalGitForgeOptions): Forge {
  const allowed = new Set(options.repositories.filter((repository) => isAbsolute(repository)).map((repository) => resolve(repository)));
  const defaultLabels = options.labels ?? [];
  const now = options.now ?? (() => new Date());

  const openConfigured = async (repository: string): Promise<LocalRepository> => {
    if (typeof repository !== "string" || !isAbsolute(repository) || !allowed.has(resolve(repository))) {
      throw new AppError("repository_not_configured", `repository "${String(repository)}" is not one of the local git repositories served`);
    }
    return openRepository(repository);
  };

  return {
    /**
     * Reads the candidate files (those `classifyPinFile` knows: Dockerfiles, Containerfiles, YAML) at the
     * default branch's head (`HEAD`'s branch). `cursor` is that commit; `unchanged` when it equals `since`. Skips symlinks, submodules, files over 1 MiB (by the tree's
     * recorded size, without reading them), files with a NUL byte and paths with `..`. Read-only.
     * @throws AppError `repository_empty` when the default branch has no commit yet.
     */
    async scan(repository, scanOptions = {}): Promise<RepositoryScan> {
      const repo = await openConfigured(repository);
      const head = await defaultBranchHead(repo);
      if (head === null) throw new AppError("repository_empty", `${repository} has no commit on its default branch`);
      const scan = { repository, revision: head, cursor: head, calls: 0, rateLimitRemaining: null };
      if (scanOptions.since === head) return { ...scan, unchanged: true, files: [], skipped: [] };
      const { files, skipped } = await readCandidateFiles(repo.gitDir, head);
      return { ...scan, unchanged: false, files, skipped };
    },

    /**
     * Makes one commit on `baseSha` whose tree is `baseSha`'s with every file of the request replaced
     * (or added), moves `branch` to it (created, or force-moved with a compare-and-swap on its old value),
     * and updates the branch's open record in place (title, body, labels, head, base) or stores a new one
     * when the branch has none, or only a closed or merged one. Idempotent: proposing the same change again
     * keeps the branch's commit. Executable files stay executable.
     * @throws ValidationError for a bad branch name (or the default branch), a path leaving the repository,
     * a path that is a directory, symlink or submodule at `baseSha`, an unknown `baseSha`, no files, or a
     * change that changes nothing. ConflictError (retryable) when the branch moved meanwhile.
     */
    async proposeChange(request: ChangeRequest): Promise<PullRequest> {
      const paths = validateChangeRequest(request);
      const repo = await openConfigured(request.repository);
      await validateBranch(repo, request.branch);
      if ((await resolveCommit(repo.gitDir, request.baseSha)) === null) {
        throw new ValidationError(`baseSha ${request.baseSha} is not a commit of ${request.repository}`, [{ path: "baseSha", message: "unknown commit" }]);
      }
      const files = request.files.map((file, index) => ({ path: paths[index] ?? file.path, text: file.text }));
      const tree = await buildTree(repo.gitDir, request.baseSha, files);
      if (tree === (await gitText(repo.gitDir, ["rev-parse", "--verify", `${request.baseSha}^{tree}`]))) {
        throw new ValidationError(`the change to ${request.branch} leaves every file as it is at ${request.baseSha}`, [{ path: "files", message: "no change" }]);
      }
      const labels = [...new Set([...request.labels, ...defaultLabels])];
      const message = `${request.title}\n${request.body === "" ? "" : `\n${request.body}\n`}`;

      return withPullRequestLock(repo.gitDir, async () => {
        const ref = `refs/heads/${request.branch}`;
        const current = await resolveCommit(repo.gitDir, ref);
        const reuse = current !== null && (await isSameCommit(repo.gitDir, current, { tree, parents: [request.baseSha], message }));
        const headSha = reuse ? current : await gitText(repo.gitDir, ["commit-tree", "--no-gpg-sign", tree, "-p", request.baseSha], { input: message });
        if (!reuse) await moveRef(repo.gitDir, ref, headSha, current);

        const timestamp = now().toISOString();
        const newest = (await readPullRequestRecords(repo.gitDir)).filter((record) => record.branch === request.branch).at(-1);
        const newestState = newest === undefined ? null : await currentState(repo, newest);
        if (newest !== undefined && newestState === "open") {
          const record = { ...newest, title: request.title, body: request.body, labels, headSha, baseSha: request.baseSha, updatedAt: timestamp };
          await writePullRequestRecord(repo.gitDir, record);
          return toPullRequest(request.repository, record, "open");
        }
        if (newest !== undefined && newestState !== newest.state) {
          await writePullRequestRecord(repo.gitDir, { ...newest, state: "merged", updatedAt: timestamp });
        }
        const record = await createPullRequestRecord(repo.gitDir, {
          branch: request.branch,
          title: request.title,
          body: request.body,
          labels,
          state: "open",
          headSha,
          baseSha: request.baseSha,
          createdAt: timestamp,
          updatedAt: timestamp,
        });
        return toPullRequest(request.repository, record, "open");
      });
    },

    /**
     * The newest record of `branch`, its state refreshed: an open one whose head commit is an ancestor
     * of the default branch's head is `merged`; closed stays closed. Read-only.
     */
    async findPullRequest(repository, branch): Promise<PullRequest | null> {
      const repo = await openConfigured(repository);
      const newest = (await readPullRequestRecords(repo.gitDir)).filter((record) => record.branch === branch).at(-1);
      if (newest === undefined) return null;
      return toPullRequest(repository, newest, await currentState(repo, newest));
    },
  };
}

/**
 * Closes pull request `number` of the local repository `repository` without merging it, as a maintainer
 * would on GitHub (the branch stays). Idempotent for a closed one. A local stand-in for tests and the demo:
 * any local repository is accepted.
 * @throws AppError `pull_request_not_found`, `pull_request_merged` (it cannot be closed any more),
 * `repository_not_found`; UpstreamError (`git`, retryable) when git fails.
 */
export async function closePullRequest(repository: string, number: number, options: { now?: () => Date } = {}): Promise<PullRequest> {
  const repo = await openRepository(repository);
  return withPullRequestLock(repo.gitDir, async () => {
    const record = await readExistingRecord(repo, number);
    const state = await currentState(repo, record);
    if (state === "merged") throw new AppError("pull_request_merged", `pull request #${number} of ${repository} is merged`);
    if (state === "closed") return toPullRequest(repository, record, state);
    const closed: PullRequestRecord = { ...record, state: "closed", updatedAt: (options.now ?? (() => new Date()))().toISOString() };
    await writePullRequestRecord(repo.gitDir, closed);
    return toPullRequest(repository, closed, "closed");
  });
}

/**
 * Merges pull request `number` into the default branch as a maintainer would: a fast-forward when the
 * default branch has not moved past the pull request's base, otherwise a merge commit (two parents, the
 * tree from `git merge-tree`) by Ripple; the default branch ref moves with a compare-and-swap, and the
 * record becomes `merged`. Only refs and objects change: on a repository with a work tree and the default
 * branch checked out, the work tree is left behind as after a push. Idempotent for a merged one. A local
 * stand-in for tests and the demo: any local repository is accepted.
 * @throws AppError `pull_request_not_found`, `pull_request_closed`, `merge_conflict`,
 * `repository_not_found`; ConflictError when the default branch moved meanwhile; UpstreamError (`git`).
 */
export async function mergePullRequest(repository: string, number: number, options: { now?: () => Date } = {}): Promise<PullRequest> {
  const repo = await openRepository(repository);
  return withPullRequestLock(repo.gitDir, async () => {
    const record = await readExistingRecord(repo, number);
    const state = await currentState(repo, record);
    if (state === "closed") throw new AppError("pull_request_closed", `pull request #${number} of ${repository} is closed`);
    if (state === "open") {
      const ref = await defaultBranchRef(repo);
      const head = await resolveCommit(repo.gitDir, ref);
      if (head === null || (await isAncestor(repo.gitDir, head, record.headSha))) {
        await moveRef(repo.gitDir, ref, record.headSha, head);
      } else {
        const merged = await runGit(repo.gitDir, ["merge-tree", "--write-tree", "--no-messages", head, record.headSha], { okCodes: [0, 1] });
        if (merged.code === 1) throw new AppError("merge_conflict", `pull request #${number} of ${repository} conflicts with ${ref}`);
        const tree = merged.stdout.toString("utf8").split("\n")[0]?.trim() ?? "";
        const message = `Merge pull request #${number} from ${record.branch}\n\n${record.title}\n`;
        const commit = await gitText(repo.gitDir, ["commit-tree", "--no-gpg-sign", tree, "-p", head, "-p", record.headSha], { input: message });
        await moveRef(repo.gitDir, ref, commit, head);
      }
    }
    const merged: PullRequestRecord = { ...record, state: "merged", updatedAt: (options.now ?? (() => new Date()))().toISOString() };
    if (record.state !== "merged") await writePullRequestRecord(repo.gitDir, merged);
    return toPullRequest(repository, merged, "merged");
  });
}

/** A repository on disk: the path the caller named and its git dir. */
interface LocalRepository {
  readonly path: string;
  readonly gitDir: string;
}

async function openRepository(repository: string): Promise<LocalRepository> {
  if (!isAbsolute(repository)) throw new ValidationError(`repository "${repository}" is not an absolute path`, [{ path: "repository", message: "must be absolute" }]);
  const path = resolve(repository);
  const gitDir = await findGitDir(path);
  if (gitDir === null) throw new AppError("repository_not_found", `${repository} is not a git repository`);
  return { path, gitDir };
}

async function readExistingRecord(repo: LocalRepository, number: number): Promise<PullRequestRecord> {
  const record = Number.isSafeInteger(number) && number > 0 ? await readPullRequestRecord(repo.gitDir, number) : undefined;
  if (record === undefined) throw new AppError("pull_request_not_found", `${repo.path} has no pull request #${number}`);
  return record;
}

function toPullRequest(repository: string, record: PullRequestRecord, state: PullRequestState): PullRequest {
  return {
    repository,
    branch: record.branch,
    number: record.number,
    url: `${pathToFileURL(resolve(repository)).href}#pull/${record.number}`,
    state,
    title: record.title,
    body: record.body,
    labels: record.labels,
    headSha: record.headSha,
    baseSha: record.baseSha,
  };
}

/** The record's state now: an open record whose head reached the default branch has been merged. */
async function currentState(repo: LocalRepository, record: PullRequestRecord): Promise<PullRequestState> {
  if (record.state !== "open") return record.state;
  const head = await defaultBranchHead(repo);
  return head !== null && (await isAncestor(repo.gitDir, record.headSha, head)) ? "merged" : "open";
}

/** `HEAD`'s branch, e.g. `refs/heads/main`, also in an empty repository. */
async function defaultBranchRef(repo: LocalRepository): Promise<string> {
  const result = await runGit(repo.gitDir, ["symbolic-ref", "-q", "HEAD"], { okCodes: [0, 1] });
  const ref = result.stdout.toString("utf8").trim();
  if (result.code !== 0 || !ref.startsWith("refs/heads/")) throw new AppError("default_branch_unknown", `${repo.path} has a detached HEAD, so no default branch`);
  return ref;
}

async function defaultBranchHead(repo: LocalRepository): Promise<string | null> {
  return resolveCommit(repo.gitDir, await defaultBranchRef(repo));
}

/** The commit `revision` names, or null when it names none. */
async function resolveCommit(gitDir: string, revision: string): Promise<string | null> {
  const result = await runGit(gitDir, ["rev-parse", "-q", "--verify", "--end-of-options", `${revision}^{commit}`], { okCodes: [0, 1, 128] });
  return result.code === 0 ? result.stdout.toString("utf8").trim() : null;
}

async function isAncestor(gitDir: string, ancestor: string, descendant: string): Promise<boolean> {
  return (await runGit(gitDir, ["merge-base", "--is-ancestor", ancestor, descendant], { okCodes: [0, 1] })).code === 0;
}

/**
 * Moves `ref` to `to` if it still points at `from` (null: if it does not exist yet).
 * @throws ConflictError (retryable) when another writer moved it first.
 */
async function moveRef(gitDir: string, ref: string, to: string, from: string | null): Promise<void> {
  const result = await runGit(gitDir, ["update-ref", "-m", "ripple", ref, to, from ?? "0".repeat(to.length)], { okCodes: [0, 1, 128] });
  if (result.code === 0) return;
  if (/but expected|already exists|unable to resolve reference|cannot lock ref/i.test(result.stderr)) {
    throw new ConflictError(`${ref} moved while Ripple updated it: ${result.stderr.trim().split("\n")[0] ?? ""}`);
  }
  throw new UpstreamError("git", `git update-ref failed in ${gitDir}: ${result.stderr.trim().split("\n")[0] ?? `exit code ${result.code}`}`, { retryable: true });
}

/** Whether `commit` has exactly this tree, these parents and this message (so it can be kept as is). */
async function isSameCommit(gitDir: string, commit: string, expected: { tree: string; parents: readonly string[]; message: string }): Promise<boolean> {
  const text = (await runGit(gitDir, ["cat-file", "commit", commit])).stdout.toString("utf8");
  const split = text.indexOf("\n\n");
  const headers = (split === -1 ? text : text.slice(0, split)).split("\n");
  const message = split === -1 ? "" : text.slice(split + 2);
  const parents = headers.filter((line) => line.startsWith("parent ")).map((line) => line.slice("parent ".length));
  return headers[0] === `tree ${expected.tree}` && parents.join(" ") === expected.parents.join(" ") && message === expected.message;
}

/**
 * Checks the branch name as git does (`git check-ref-format --branch`) and refuses the default branch,
 * which a proposal must never move.
 */
async function validateBranch(repo: LocalRepository, branch: string): Promise<void> {
  const refuse = (reason: string): never => {
    throw new ValidationError(`branch "${branch}" ${reason}`, [{ path: "branch", message: reason }]);
  };
  if (branch === "" || branch.startsWith("-") || branch === "HEAD") refuse("is not a valid branch name");
  const checked = await runGit(repo.gitDir, ["check-ref-format", "--branch", branch], { okCodes: [0, 1, 128] });
  // --branch expands `@{-1}` and the like: only a name that is its own expansion is a plain branch name.
  if (checked.code !== 0 || checked.stdout.toString("utf8").trim() !== branch) refuse("is not a valid branch name");
  if (`refs/heads/${branch}` === (await defaultBranchRef(repo))) refuse("is the default branch");
}

/** Validates the request's fields that need no git and answers the files' normalized paths. */
function validateChangeRequest(request: ChangeRequest): string[] {
  const issues: Array<{ path: string; message: string }> = [];
  if (typeof request.branch !== "string") issues.push({ path: "branch", message: "must be a string" });
  if (typeof request.title !== "string" || request.title.trim() === "") issues.push({ path: "title", message: "must be a non-empty string" });
  if (typeof request.body !== "string") issues.push({ path: "body", message: "must be a string" });
  if (!Array.isArray(request.labels) || !request.labels.every((label) => typeof label === "string" && label !== "")) {
    issues.push({ path: "labels", message: "must be non-empty strings" });
  }
  if (typeof request.baseSha !== "string" || !commitShaPattern.test(request.baseSha)) issues.push({ path: "baseSha", message: "must be a full commit sha" });
  const files: readonly ForgeFile[] = Array.isArray(request.files) ? request.files : [];
  if (files.length === 0) issues.push({ path: "files", message: "must name at least one file" });
  const paths = files.map((file, index) => {
    const path = typeof file.path === "string" ? file.path.replace(/^(?:\.\/)+/, "") : "";
    const segments = path.split("/");
    if (path === "" || path.startsWith("/") || path.includes("\0") || path.includes("\\") || segments.some((segment) => segment === "" || segment === "." || segment === "..")) {
      issues.push({ path: `files.${index}.path`, message: `"${String(file.path)}" leaves the repository (must be relative, without . or ..)` });
    } else if (segments.some((segment) => segment.toLowerCase() === ".git")) {
      issues.push({ path: `files.${index}.path`, message: `"${path}" is inside .git` });
    }
    if (typeof file.text !== "string") issues.push({ path: `files.${index}.text`, message: "must be a string" });
    return path;
  });
  paths.forEach((path, index) => {
    if (path !== "" && paths.indexOf(path) !== index) issues.push({ path: `files.${index}.path`, message: `"${path}" is named twice` });
  });
  if (issues.length > 0) {
    throw new ValidationError(`change request for ${String(request.repository)}: ${issues.map((issue) => `${issue.path} ${issue.message}`).join("; ")}`, issues);
  }
  return paths;
}

/**
 * Writes a blob per file and the tree of `baseSha` with those paths replaced, through a temporary index
 * file (never the repository's own index), and answers the tree's sha.
 */
async function buildTree(gitDir: string, baseSha: string, files: readonly ForgeFile[]): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "ripple-index-"));
  const env = { GIT_INDEX_FILE: join(directory, "index"), GIT_LITERAL_PATHSPECS: "1" };
  try {
    await runGit(gitDir, ["read-tree", baseSha], { env });
    const modes = new Map<string, string>();
    const listed = await runGit(gitDir, ["ls-tree", "-z", "--full-tree", baseSha, "--", ...files.map((file) => file.path)], { env });
    for (const entry of listed.stdout.toString("utf8").split("\0")) {
      const match = /^(\d{6}) \w+ [0-9a-f]+\t(.*)$/s.exec(entry);
      if (match?.[1] !== undefined && match[2] !== undefined) modes.set(match[2], match[1]);
    }
    const entries: string[] = [];
    for (const file of files) {
      const mode = modes.get(file.path) ?? "100644";
      if (mode !== "100644" && mode !== "100755") {
        throw new ValidationError(`"${file.path}" is not a regular file at ${baseSha} (mode ${mode})`, [{ path: "files", message: `${file.path} is a directory, symlink or submodule` }]);
      }
      const blob = await gitText(gitDir, ["hash-object", "-w", "--no-filters", "--stdin"], { input: file.text });
      entries.push("--cacheinfo", `${mode},${blob},${file.path}`);
    }
    // --cacheinfo without --replace refuses a path that would turn a file into a folder or back
    // (--index-info would silently drop the file in the way).
    const added = await runGit(gitDir, ["update-index", "--add", ...entries], { env, okCodes: [0, 1, 128] });
    if (added.code !== 0) {
      const reason = (added.stderr.trim().split("\n")[0] ?? "").replace(/^(?:error|fatal): /, "");
      if (!/both a file and as a directory|cannot add|invalid path/i.test(added.stderr)) {
        throw new UpstreamError("git", `git update-index failed in ${gitDir}: ${reason}`, { retryable: true });
      }
      throw new ValidationError(`the files do not fit the tree of ${baseSha}: ${reason}`, [{ path: "files", message: reason }]);
    }
    return await gitText(gitDir, ["write-tree"], { env });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

interface TreeEntry {
  readonly mode: string;
  readonly object: string;
  readonly size: number | null;
  readonly path: string;
}

async function readCandidateFiles(gitDir: string, commit: string): Promise<{ files: ForgeFile[]; skipped: SkippedFile[] }> {
  const listed = await runGit(gitDir, ["ls-tree", "-r", "-l", "-z", "--full-tree", commit]);
  const entries = listed.stdout
    .toString("utf8")
    .split("\0")
    .filter((line) => line !== "")
    .map((line): TreeEntry => {
      const match = /^(\d{6}) \w+ ([0-9a-f]+) +(\S+)\t(.*)$/s.exec(line);
      const size = match?.[3];
      // ls-tree -l prints `-` for submodules and `BAD` for a blob it cannot find.
      if (match?.[1] === undefined || match[2] === undefined || match[4] === undefined || size === undefined || !/^(?:\d+|-)$/.test(size)) {
        throw new UpstreamError("git", `git ls-tree answered "${line.slice(0, 200)}" in ${gitDir} at ${commit}`, { retryable: true });
      }
      return { mode: match[1], object: match[2], size: size === "-" ? null : Number(size), path: match[4] };
    });
  const skipped: SkippedFile[] = [];
  const toRead: TreeEntry[] = [];
  for (const entry of entries) {
    if (classifyPinFile(entry.path) === null) continue;
    const reason = skipReason(entry);
    if (reason === null) toRead.push(entry);
    else skipped.push({ path: entry.path, reason });
  }
  const contents = await readBlobs(gitDir, toRead.map((entry) => entry.object));
  const files: ForgeFile[] = [];
  toRead.forEach((entry, index) => {
    const content = contents[index] ?? Buffer.alloc(0);
    if (content.includes(0)) skipped.push({ path: entry.path, reason: "binary" });
    else files.push({ path: entry.path, text: content.toString("utf8") });
  });
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, skipped };
}

function skipReason(entry: TreeEntry): string | null {
  if (entry.path.startsWith("/") || entry.path.split("/").some((segment) => segment === ".." || segment === "." || segment === "")) return "outside the repository";
  if (entry.mode === "120000") return "symlink";
  if (entry.mode === "160000") return "submodule";
  if (entry.size === null || entry.size > MAX_FILE_BYTES) return "too large";
  return null;
}

/** The contents of blobs, in order, through one `git cat-file --batch`. */
async function readBlobs(gitDir: string, objects: readonly string[]): Promise<Buffer[]> {
  if (objects.length === 0) return [];
  const output = (await runGit(gitDir, ["cat-file", "--batch"], { input: objects.map((object) => `${object}\n`).join("") })).stdout;
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const object of objects) {
    const newline = output.indexOf(0x0a, offset);
    const header = output.subarray(offset, newline === -1 ? output.length : newline).toString("utf8");
    const match = /^([0-9a-f]+) blob (\d+)$/.exec(header);
    if (newline === -1 || match?.[2] === undefined) throw new UpstreamError("git", `git cat-file answered "${header}" for blob ${object}`, { retryable: true });
    const size = Number(match[2]);
    blobs.push(output.subarray(newline + 1, newline + 1 + size));
    offset = newline + 1 + size + 1;
  }
  return blobs;
}
