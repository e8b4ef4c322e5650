import type { Octokit } from "@octokit/rest";
import { z } from "zod";
import { classifyPinFile } from "../../domain/pins.js";
import { UpstreamError, ValidationError } from "../../errors.js";
import { GITHUB_SERVICE as SERVICE, statusOf, toGitHubError } from "./github-errors.js";
import type { ChangeRequest, Forge, ForgeFile, PullRequest, RepositoryScan, SkippedFile } from "../../ports/forge.js";

/** Files over this size are skipped from their tree entry, without fetching them. */
export const MAX_SCAN_FILE_BYTES = 1024 * 1024;
/** Blob reads in flight at once during a scan (the throttling plugin allows 10 per installation). */
const BLOB_CONCURRENCY = 4;
/** Pull requests of one head branch read at once; the open one is among the newest. */
const PULLS_PAGE_SIZE = 100;
/** Repositories per `GET /installation/repositories` page: GitHub's maximum. */
const INSTALLATION_REPOSITORIES_PAGE_SIZE = 100;
/** Base commits whose tree SHA a forge remembers (commits never change, so entries never go stale). */
const REMEMBERED_BASE_TREES = 1000;
/** GitHub's media type for a commit answered as its bare SHA, whose `ETag` is that SHA. */
const SHA_MEDIA_TYPE = "application/vnd.github.sha";
const SHA = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
/** Why a workflow file is read-only: GitHub refuses an App's change under `.github/workflows/` (a 404 on `POST /git/trees`) without it. */
export const WORKFLOWS_PERMISSION_REASON = "needs the GitHub App's workflows permission";

export interface GitHubForgeOptions {
  /** An authenticated Octokit, normally from `createGitHubOctokit` (App installation auth, retry, throttling). */
  readonly octokit: Octokit;
  /** Labels every pull request carries, on top of the request's own. */
  readonly labels?: readonly string[];
  /**
   * Default branches already known (from configuration or an installation listing), `owner/name` →
   * branch, so that opening a labelled pull request never spends a `GET /repos` on it. Read live: entries
   * the caller adds later are used too.
   */
  readonly defaultBranches?: ReadonlyMap<string, string>;
}

/** The pull request fields the adapter reads, from `pulls.list`, `pulls.create` or `pulls.update` answers. */
interface PullData {
  readonly number: number;
  readonly html_url: string;
  readonly state: string;
  readonly title: string;
  readonly body: string | null;
  readonly merged_at: string | null;
  readonly labels: ReadonlyArray<{ readonly name?: string }>;
  readonly head: { readonly sha: string };
  readonly base: { readonly sha: string; readonly ref: string; readonly repo?: { readonly default_branch?: string } | null };
}

/** Requests spent and the last `x-ratelimit-remaining` seen, for one port call; `action` names the request in flight. */
interface Meter {
  calls: number;
  rateLimitRemaining: number | null;
  action: string;
}

type Headers = Readonly<Record<string, string | number | undefined>>;

/**
 * The {@link Forge} on GitHub's REST API through Octokit. Repositories are named `owner/name`.
 *
 * - `scan` spends one `GET /repos/{o}/{r}/commits/HEAD` with `Accept: application/vnd.github.sha` (the
 *   default branch's head SHA as text, without a `GET /repos` for its name) and, with a cursor,
 *   `If-None-Match: "<previous head SHA>"`: GitHub's documented cheap check, a 304 that does not count
 *   against the rate limit while the head has not moved. Unlike the ETag of a JSON answer, which is tied
 *   to the token, it still matches after the hourly installation-token rotation. Otherwise one recursive
 *   `git.getTree` by the head commit and one `git.getBlob` per candidate file (`classifyPinFile`:
 *   Dockerfile*, *.Dockerfile, Containerfile*, *.yml, *.yaml). The cursor is the head SHA. Submodules
 *   are reported as skipped whatever their path (their files are not scanned); a truncated tree is
 *   reported as a skipped `.`. Files under `.github/workflows/` come back `readOnly` when the
 *   installation token lacks `workflows: write` (read from `@octokit/auth-app`'s cached token, no request).
 * - `proposeChange` lists the branch's pull requests (any state, newest first), writes one tree with the
 *   new texts inline (mode 100644) on the tree of `baseSha` (`base_tree` takes a tree SHA only: the
 *   commit is read once with `git.getCommit` and its tree remembered) and one commit, then either
 *   force-moves the branch and updates the open pull request (5 requests, 4 when title, body and labels
 *   are already right) or creates the branch and the pull request and adds labels (5 requests, +1 for
 *   labels, +1 for `GET /repos` when the default branch is not known yet: it is learnt from any pull
 *   request answer of the repository, or from `GET /repos`, and kept for this forge's life); +1 for a
 *   base commit not seen before. A change to a workflow file without `workflows: write` is refused with a
 *   ValidationError before any request.
 *
 * Every failure becomes an {@link UpstreamError} (`github`): retryable for network errors, 408, 429, 5xx
 * and rate-limit 403s the throttling plugin gave up on; a rate-limited answer carries `details.retryAfterMs`
 * (GitHub's `retry-after`, or the time to `x-ratelimit-reset`, or a minute) so the job can be handed back.
 */
export function createGitHubForge(options: GitHubForgeOptions): Forge {
  const { octokit } = options;
  const forgeLabels = options.labels ?? [];
  const defaultBranches = new Map<string, string>();
  const knownDefaultBranch = (repository: string): string | undefined => defaultBranches.get(repository) ?? options.defaultBranches?.get(repository);

  const baseTrees = new Map<string, string>();
  /** The tree SHA of commit `commitSha`, as `base_tree` needs it: one `git.getCommit` per commit not seen before. */
  const baseTreeOf = async (meter: Meter, repository: string, commitSha: string): Promise<string> => {
    const key = `${repository}@${commitSha}`;
    const known = baseTrees.get(key);
    if (known !== undefined) return known;
    const { owner, repo } = splitRepository(repository);
    const { data } = await send(meter, `reading commit ${commitSha} of ${repository}`, () => octokit.rest.git.getCommit({ owner, repo, commit_sha: commitSha }));
    if (baseTrees.size >= REMEMBERED_BASE_TREES) baseTrees.delete(baseTrees.keys().next().value as string);
    baseTrees.set(key, data.tree.sha);
    return data.tree.sha;
  };

  const learnDefaultBranch = (repository: string, pulls: readonly PullData[]): void => {
    const name = pulls.find((pull) => typeof pull.base.repo?.default_branch === "string")?.base.repo?.default_branch;
    if (name !== undefined) defaultBranches.set(repository, name);
  };

  const listPulls = async (meter: Meter, repository: string, branch: string, state: "open" | "all"): Promise<PullData[]> => {
    const { owner, repo } = splitRepository(repository);
    const { data } = await send(meter, `listing pull requests of ${repository}:${branch}`, () =>
      octokit.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, state, per_page: PULLS_PAGE_SIZE }),
    );
    const pulls = data as unknown as PullData[];
    learnDefaultBranch(repository, pulls);
    return pulls;
  };

  const updateOpenPull = async (meter: Meter, request: ChangeRequest, pull: PullData, headSha: string, labels: readonly string[]): Promise<PullRequest> => {
    const { owner, repo } = splitRepository(request.repository);
    const existing = pull.labels.flatMap((label) => (typeof label.name === "string" ? [label.name] : []));
    const missing = labels.filter((label) => !existing.includes(label));
    const merged = [...existing, ...missing];
    if (missing.length > 0) {
      // issues.update sets title, body and labels in one request; the union keeps labels people added.
      await send(meter, `updating pull request #${pull.number} of ${request.repository}`, () =>
        octokit.rest.issues.update({ owner, repo, issue_number: pull.number, title: request.title, body: request.body, labels: merged }),
      );
    } else if (pull.title !== request.title || (pull.body ?? "") !== request.body) {
      await send(meter, `updating pull request #${pull.number} of ${request.repository}`, () =>
        octokit.rest.pulls.update({ owner, repo, pull_number: pull.number, title: request.title, body: request.body }),
      );
    }
    return { ...toPullRequest(request.repository, request.branch, pull), title: request.title, body: request.body, labels: merged, headSha, baseSha: request.baseSha };
  };

  const proposeChange = async (meter: Meter, request: ChangeRequest): Promise<PullRequest> => {
    checkChangeRequest(request);
    await checkWorkflowsWritable(octokit, meter, request);
    const { repository, branch } = request;
    const { owner, repo } = splitRepository(repository);
    const labels = unique([...forgeLabels, ...request.labels]);

    const pulls = await listPulls(meter, repository, branch, "all");
    const open = pulls.find((pull) => pull.state === "open");
    let base = open?.base.ref ?? knownDefaultBranch(repository);
    if (base === undefined) {
      const { data } = await send(meter, `reading repository ${repository}`, () => octokit.rest.repos.get({ owner, repo }));
      base = data.default_branch;
      defaultBranches.set(repository, base);
    }

    // base_tree must name a tree (GitHub answers 422 to a commit SHA); texts go inline, so no blob requests.
    const baseTree = await baseTreeOf(meter, repository, request.baseSha);
    const tree = await send(meter, `writing the tree of ${repository}:${branch}`, () =>
      octokit.rest.git.createTree({
        owner,
        repo,
        base_tree: baseTree,
        tree: request.files.map((file) => ({ path: file.path, mode: "100644" as const, type: "blob" as const, content: file.text })),
      }),
    );
    const commit = await send(meter, `writing the commit of ${repository}:${branch}`, () =>
      octokit.rest.git.createCommit({ owner, repo, message: request.title, tree: tree.data.sha, parents: [request.baseSha] }),
    );
    const headSha = commit.data.sha;
    const moveBranch = (): Promise<unknown> =>
      send(meter, `moving branch ${branch} of ${repository}`, () => octokit.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: headSha, force: true }));

    if (open !== undefined) {
      await moveBranch();
      return updateOpenPull(meter, request, open, headSha, labels);
    }

    try {
      await send(meter, `creating branch ${branch} of ${repository}`, () => octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: headSha }));
    } catch (error) {
      // A branch left behind by a closed pull request (or a concurrent proposeChange): move it.
      if (!isUnprocessable(error, /reference already exists/i)) throw error;
      await moveBranch();
    }

    let created: PullData;
    try {
      const response = await send(meter, `opening a pull request for ${repository}:${branch}`, () =>
        octokit.rest.pulls.create({ owner, repo, head: branch, base, title: request.title, body: request.body }),
      );
      created = response.data as unknown as PullData;
    } catch (error) {
      // A concurrent proposeChange opened it between our list and create: update that one instead.
      if (!isUnprocessable(error, /pull request already exists/i)) throw error;
      const raced = (await listPulls(meter, repository, branch, "open"))[0];
      if (raced === undefined) throw error;
      return updateOpenPull(meter, request, raced, headSha, labels);
    }

    let labelNames: string[] = [];
    if (labels.length > 0) {
      const { data } = await send(meter, `labelling pull request #${created.number} of ${repository}`, () =>
        octokit.rest.issues.addLabels({ owner, repo, issue_number: created.number, labels: [...labels] }),
      );
      labelNames = data.map((label) => label.name);
    }
    return { ...toPullRequest(repository, branch, created), title: request.title, body: request.body, labels: labelNames, headSha, baseSha: request.baseSha };
  };

  /** The default branch's head commit SHA, or null when it is still `previous` (GitHub's 304). */
  const readHeadSha = async (meter: Meter, repository: string, previous: string | null): Promise<string | null> => {
    const { owner, repo } = splitRepository(repository);
    const action = `reading the head commit of ${repository}`;
    const headers = { accept: SHA_MEDIA_TYPE, ...(previous === null ? {} : { "if-none-match": `"${previous}"` }) };
    try {
      const { data } = await send(meter, action, () => octokit.rest.repos.getCommit({ owner, repo, ref: "HEAD", headers }));
      const sha = typeof (data as unknown) === "string" ? (data as unknown as string).trim() : "";
      if (!SHA.test(sha)) throw new UpstreamError(SERVICE, `${action}: unexpected response body`, { retryable: false });
      return sha;
    } catch (error) {
      if (previous !== null && statusOf(error) === 304) return null;
      throw error;
    }
  };

  /** Lists the tree of commit `head` and reads its candidate files; the others worth naming are skipped with a reason. */
  const readCandidates = async (meter: Meter, repository: string, head: string): Promise<{ files: ForgeFile[]; skipped: SkippedFile[] }> => {
    const { owner, repo } = splitRepository(repository);
    // GitHub reads a tree by its commit's SHA too, which saves a request for the tree's own SHA.
    const { data: tree } = await send(meter, `reading the tree of ${repository}@${head}`, () => octokit.rest.git.getTree({ owner, repo, tree_sha: head, recursive: "1" }));
    const { wanted, skipped } = pickCandidates(tree.tree, tree.truncated);
    const workflowsReadOnly = wanted.some(({ path }) => isWorkflowPath(path)) && !(await canWriteWorkflows(octokit, meter));
    const files: ForgeFile[] = [];
    await forEachLimited(wanted, BLOB_CONCURRENCY, async ({ path, sha }) => {
      const { data } = await send(meter, `reading ${repository}:${path}`, () => octokit.rest.git.getBlob({ owner, repo, file_sha: sha }));
      const bytes = data.encoding === "base64" ? Buffer.from(data.content, "base64") : Buffer.from(data.content, "utf8");
      const text = decodeText(bytes);
      if (bytes.length > MAX_SCAN_FILE_BYTES) skipped.push({ path, reason: "too large" });
      else if (text === null) skipped.push({ path, reason: "binary" });
      else files.push({ path, text, ...(workflowsReadOnly && isWorkflowPath(path) ? { readOnly: WORKFLOWS_PERMISSION_REASON } : {}) });
    });
    return { files: files.sort(byPath), skipped: skipped.sort(byPath) };
  };

  const scan = async (meter: Meter, repository: string, since: string | undefined): Promise<RepositoryScan> => {
    const previous = parseCursor(since);
    const head = await readHeadSha(meter, repository, previous);
    const spent = { calls: meter.calls, rateLimitRemaining: meter.rateLimitRemaining };
    if (previous !== null && (head === null || head === previous)) return { repository, revision: previous, unchanged: true, files: [], skipped: [], cursor: previous, ...spent };
    const revision = head ?? "";
    const { files, skipped } = await readCandidates(meter, repository, revision);
    return { repository, revision, unchanged: false, files, skipped, cursor: revision, calls: meter.calls, rateLimitRemaining: meter.rateLimitRemaining };
  };

  const findPullRequest = async (meter: Meter, repository: string, branch: string): Promise<PullRequest | null> => {
    const pulls = await listPulls(meter, repository, branch, "all");
    const newest = pulls.reduce<PullData | null>((best, pull) => (best === null || pull.number > best.number ? pull : best), null);
    return newest === null ? null : toPullRequest(repository, branch, newest);
  };

  return {
    scan: (repository, scanOptions = {}) => metered((meter) => scan(meter, repository, scanOptions.since)),
    proposeChange: (request) => metered((meter) => proposeChange(meter, request)),
    findPullRequest: (repository, branch) => metered((meter) => findPullRequest(meter, repository, branch)),
  };
}

/** A repository the App installation can access, as {@link listInstallationRepositories} reports it. */
export interface InstallationRepository {
  /** `owner/name`, as GitHub spells it. */
  readonly fullName: string;
  readonly defaultBranch: string;
  /** Always false in a listing: archived repositories are left out. */
  readonly archived: boolean;
}

export interface InstallationRepositories {
  readonly repositories: readonly InstallationRepository[];
  /** API calls the listing spent (one per page). */
  readonly calls: number;
}

/** One page of `GET /installation/repositories`, lenient: only the fields the listing reads. */
const InstallationRepositoriesPage = z.object({
  repositories: z.array(z.object({ full_name: z.string(), default_branch: z.string(), archived: z.boolean().default(false) })),
});

/**
 * Lists every repository the App installation behind `octokit` can access, in GitHub's order:
 * `GET /installation/repositories?per_page=100`, then each `Link: rel="next"` page until there is none
 * (one call per page). Archived repositories are left out; with `owner`, so are other owners'
 * repositories (compared case-insensitively). Read-only, so idempotent.
 *
 * @throws UpstreamError (`github`) as for the forge's port calls: retryable for network errors, 408,
 *   429, 5xx and rate-limit 403s; not retryable for a page that is not the documented shape or a
 *   `next` link to another host than the API's (the installation token is never sent elsewhere).
 */
export async function listInstallationRepositories(octokit: Octokit, options: { owner?: string } = {}): Promise<InstallationRepositories> {
  const owner = options.owner?.toLowerCase();
  const apiOrigin = new URL(octokit.request.endpoint.DEFAULTS.baseUrl).origin;
  return metered(async (meter) => {
    const repositories: InstallationRepository[] = [];
    let next: string | null = null;
    let page = 0;
    do {
      page += 1;
      const action = `listing the installation's repositories (page ${page})`;
      const url = next;
      const response = await send(meter, action, () =>
        url === null ? octokit.request("GET /installation/repositories", { per_page: INSTALLATION_REPOSITORIES_PAGE_SIZE }) : octokit.request({ method: "GET", url }),
      );
      next = nextPageUrl(response.headers.link, response.url, apiOrigin, action);
      const parsed = InstallationRepositoriesPage.safeParse(response.data);
      if (!parsed.success) throw new UpstreamError(SERVICE, `${action}: unexpected response body`, { retryable: false });
      for (const repository of parsed.data.repositories) {
        if (repository.archived) continue;
        if (owner !== undefined && repository.full_name.split("/")[0]?.toLowerCase() !== owner) continue;
        repositories.push({ fullName: repository.full_name, defaultBranch: repository.default_branch, archived: false });
      }
    } while (next !== null);
    return { repositories, calls: meter.calls };
  });
}

/** The `rel="next"` target of a `Link` header, resolved against the page it came with; never another host. */
function nextPageUrl(link: string | undefined, current: string, apiOrigin: string, action: string): string | null {
  const target = link === undefined ? undefined : /<([^<>]+)>\s*;\s*rel="next"/.exec(link)?.[1];
  if (target === undefined) return null;
  const next = new URL(target, current);
  if (next.origin !== apiOrigin) throw new UpstreamError(SERVICE, `${action}: pagination link points at another host`, { retryable: false });
  return next.href;
}

/** Runs one port call with a fresh meter, turning any failure into an AppError named after the request in flight. */
async function metered<T>(run: (meter: Meter) => Promise<T>): Promise<T> {
  const meter: Meter = { calls: 0, rateLimitRemaining: null, action: "preparing the request" };
  try {
    return await run(meter);
  } catch (error) {
    throw toGitHubError(error, meter.action);
  }
}

/** Sends one REST request, counting it and reading its rate-limit header, on success and on failure. */
async function send<T extends { headers: Headers }>(meter: Meter, action: string, call: () => Promise<T>): Promise<T> {
  meter.calls += 1;
  meter.action = action;
  try {
    const response = await call();
    observeRateLimit(meter, response.headers);
    return response;
  } catch (error) {
    observeRateLimit(meter, (error as { response?: { headers?: Headers } } | null)?.response?.headers);
    throw error;
  }
}

function observeRateLimit(meter: Meter, headers: Headers | undefined): void {
  const remaining = Number(headers?.["x-ratelimit-remaining"]);
  if (headers?.["x-ratelimit-remaining"] !== undefined && Number.isFinite(remaining)) meter.rateLimitRemaining = remaining;
}

function toPullRequest(repository: string, branch: string, pull: PullData): PullRequest {
  return {
    repository,
    branch,
    number: pull.number,
    url: pull.html_url,
    state: pull.merged_at !== null && pull.merged_at !== undefined ? "merged" : pull.state === "open" ? "open" : "closed",
    title: pull.title,
    body: pull.body ?? "",
    labels: pull.labels.flatMap((label) => (typeof label.name === "string" ? [label.name] : [])),
    headSha: pull.head.sha,
    baseSha: pull.base.sha,
  };
}

function splitRepository(repository: string): { owner: string; repo: string } {
  const match = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(repository);
  if (match === null || match[2] === "." || match[2] === "..") {
    throw new ValidationError(`repository "${repository}" is not owner/name`, [{ path: "repository", message: "expected owner/name" }]);
  }
  return { owner: match[1] ?? "", repo: match[2] ?? "" };
}

function checkChangeRequest(request: ChangeRequest): void {
  const issues: Array<{ path: string; message: string }> = [];
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(request.baseSha)) issues.push({ path: "baseSha", message: "not a full commit SHA" });
  if (request.branch === "" || request.branch.startsWith("refs/") || /[\s~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock$|\.$/.test(request.branch)) {
    issues.push({ path: "branch", message: "not a valid branch name" });
  }
  if (request.files.length === 0) issues.push({ path: "files", message: "no files to commit" });
  request.files.forEach((file, index) => {
    if (!isInsideRepository(file.path)) issues.push({ path: `files.${index}.path`, message: "must be relative, without . or .. segments" });
  });
  if (issues.length > 0) throw new ValidationError(`invalid change request for ${request.repository}`, issues);
}

/** Files that may hold pinned references, as the domain classifies them (Dockerfiles, Containerfiles, YAML). */
function isCandidatePath(path: string): boolean {
  return classifyPinFile(path) !== null;
}

/** One entry of a recursive `git.getTree` answer, lenient: only the fields the scan reads. */
interface TreeEntry {
  readonly path?: string;
  readonly mode?: string;
  readonly type?: string;
  readonly sha?: string;
  readonly size?: number;
}

/** The candidate blobs of a tree listing worth reading, and the entries skipped with a reason (a truncated listing is a skipped `.`). */
function pickCandidates(entries: readonly TreeEntry[], truncated: boolean): { wanted: Array<{ path: string; sha: string }>; skipped: SkippedFile[] } {
  const skipped: SkippedFile[] = truncated ? [{ path: ".", reason: "tree truncated" }] : [];
  const wanted: Array<{ path: string; sha: string }> = [];
  for (const entry of entries) {
    const path = entry.path ?? "";
    if (entry.type === "commit" || entry.mode === "160000") {
      skipped.push({ path, reason: "submodule" });
      continue;
    }
    if (entry.type !== "blob" || !isCandidatePath(path)) continue;
    if (!isInsideRepository(path)) skipped.push({ path, reason: "outside the repository" });
    else if (entry.mode === "120000") skipped.push({ path, reason: "symlink" });
    else if ((entry.size ?? 0) > MAX_SCAN_FILE_BYTES) skipped.push({ path, reason: "too large" });
    else if (entry.sha !== undefined) wanted.push({ path, sha: entry.sha });
  }
  return { wanted, skipped };
}

/** A file GitHub lets an App change only with the `workflows` permission. */
function isWorkflowPath(path: string): boolean {
  return path.startsWith(".github/workflows/");
}

/** The installation token's authentication as `@octokit/auth-app` reports it, lenient: only the permissions are read. */
const InstallationAuthentication = z.object({ permissions: z.record(z.string(), z.unknown()) });

/**
 * The permissions GitHub granted the App's installation with its current token (`{ contents: "write", … }`),
 * as `@octokit/auth-app` keeps them with the cached token (`octokit.auth({ type: "installation" })`): no
 * request once a token exists; a new token (hourly) brings the permissions as they are then. Null for a
 * client that does not authenticate as an App installation.
 * @throws the token request's error (see {@link toGitHubError}).
 */
export async function readInstallationPermissions(octokit: Octokit): Promise<Record<string, string> | null> {
  const parsed = InstallationAuthentication.safeParse(await octokit.auth({ type: "installation" }));
  if (!parsed.success) return null;
  return Object.fromEntries(Object.entries(parsed.data.permissions).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

/**
 * Whether the installation token may change workflow files (`workflows: write`). A client that does not
 * authenticate as an App installation reports no permissions: allowed, and GitHub decides.
 */
async function canWriteWorkflows(octokit: Octokit, meter: Meter): Promise<boolean> {
  meter.action = "authenticating as the GitHub App installation";
  const permissions = await readInstallationPermissions(octokit);
  return permissions === null || permissions["workflows"] === "write";
}

/** Refuses, before any write, a change to workflow files the installation may not change (GitHub would answer 404). */
async function checkWorkflowsWritable(octokit: Octokit, meter: Meter, request: ChangeRequest): Promise<void> {
  const workflows = request.files.flatMap((file, index) => (isWorkflowPath(file.path) ? [{ path: file.path, index }] : []));
  if (workflows.length === 0 || (await canWriteWorkflows(octokit, meter))) return;
  throw new ValidationError(
    `cannot change ${workflows.map(({ path }) => path).join(", ")} in ${request.repository}: ${WORKFLOWS_PERMISSION_REASON}`,
    workflows.map(({ index }) => ({ path: `files.${index}.path`, message: WORKFLOWS_PERMISSION_REASON })),
  );
}

function isInsideRepository(path: string): boolean {
  return path !== "" && !path.startsWith("/") && path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

/** UTF-8 text, or null for binary content: a NUL byte or bytes that are not UTF-8. */
function decodeText(bytes: Buffer): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The head SHA of a cursor: the SHA alone, or the `<sha> <ETag>` of earlier versions. */
function parseCursor(cursor: string | undefined): string | null {
  const match = cursor === undefined ? null : /^([0-9a-f]{40}(?:[0-9a-f]{24})?)(?: \S.*)?$/.exec(cursor);
  return match?.[1] ?? null;
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}


function isUnprocessable(error: unknown, message: RegExp): boolean {
  if (statusOf(error) !== 422) return false;
  const data = (error as { response?: { data?: unknown } }).response?.data;
  const texts = [(error as Error).message, JSON.stringify(data ?? null)];
  return texts.some((text) => message.test(text));
}

