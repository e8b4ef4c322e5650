import type { Octokit } from "@octokit/rest";
import { z } from "zod";
import { classifyPinFile } from "../../domain/pins.js";
import { AppError, UpstreamError, ValidationError } from "../../errors.js";
import type { ChangeRequest, Forge, ForgeFile, PullRequest, RepositoryScan, SkippedFile } from "../../ports/forge.js";

/** Files over this size are skipped from their tree entry, without fetching them. */
export const MAX_SCAN_FILE_BYTES = 1024 * 1024;
/** Blob reads in flight at once during a scan (the throttling plugin allows 10 per installation). */
const BLOB_CONCURRENCY = 4;
/** Pull requests of one head branch read at once; the open one is among the newest. */
const PULLS_PAGE_SIZE = 100;
/** Repositories per `GET /installation/repositories` page: GitHub's maximum. */
const INSTALLATION_REPOSITORIES_PAGE_SIZE = 100;
const SERVICE = "github";

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
 * - `scan` spends one conditional `GET /repos/{o}/{r}/commits/HEAD` (the default branch's head, without
 *   a `GET /repos` for its name); a 304 or an unchanged head commit ends the scan there. Otherwise one
 *   recursive `git.getTree` and one `git.getBlob` per candidate file (`classifyPinFile`: Dockerfile*,
 *   *.Dockerfile, Containerfile*, *.yml, *.yaml). The cursor is `<head sha> <ETag>`: opaque to callers, and it lets a
 *   304 still answer the revision. Submodules are reported as skipped whatever their path (their files
 *   are not scanned); a truncated tree is reported as a skipped `.`.
 * - `proposeChange` lists the branch's pull requests (any state, newest first), writes one tree with the
 *   new texts inline (mode 100644) on `baseSha` and one commit, then either force-moves the branch and
 *   updates the open pull request (5 requests, 4 when title, body and labels are already right) or
 *   creates the branch and the pull request and adds labels (5 requests, +1 for labels, +1 for
 *   `GET /repos` when the default branch is not known yet: it is learnt from any pull request answer of
 *   the repository, or from `GET /repos`, and kept for this forge's life).
 *
 * Every failure becomes an {@link UpstreamError} (`github`): retryable for network errors, 408, 429, 5xx
 * and rate-limit 403s the throttling plugin gave up on.
 */
export function createGitHubForge(options: GitHubForgeOptions): Forge {
  const { octokit } = options;
  const forgeLabels = options.labels ?? [];
  const defaultBranches = new Map<string, string>();
  const knownDefaultBranch = (repository: string): string | undefined => defaultBranches.get(repository) ?? options.defaultBranches?.get(repository);

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

    // GitHub peels the commit `baseSha` to its tree for base_tree; texts go inline, so no blob requests.
    const tree = await send(meter, `writing the tree of ${repository}:${branch}`, () =>
      octokit.rest.git.createTree({
        owner,
        repo,
        base_tree: request.baseSha,
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

  const scan = async (meter: Meter, repository: string, since: string | undefined): Promise<RepositoryScan> => {
    const { owner, repo } = splitRepository(repository);
    const previous = parseCursor(since);
    const unchanged = (revision: string, cursor: string): RepositoryScan => ({
      repository,
      revision,
      unchanged: true,
      files: [],
      skipped: [],
      cursor,
      calls: meter.calls,
      rateLimitRemaining: meter.rateLimitRemaining,
    });

    let head: { sha: string; treeSha: string; etag: string | undefined };
    try {
      const { data, headers } = await send(meter, `reading the head commit of ${repository}`, () =>
        octokit.rest.repos.getCommit({ owner, repo, ref: "HEAD", ...(previous === null ? {} : { headers: { "if-none-match": previous.etag } }) }),
      );
      head = { sha: data.sha, treeSha: data.commit.tree.sha, etag: typeof headers.etag === "string" ? headers.etag : undefined };
    } catch (error) {
      if (previous !== null && statusOf(error) === 304) return unchanged(previous.sha, since ?? "");
      throw error;
    }
    const cursor = head.etag === undefined ? head.sha : `${head.sha} ${head.etag}`;
    // The ETag also changes with things other than the commit (the answer's representation); same head, same files.
    if (previous !== null && previous.sha === head.sha) return unchanged(head.sha, cursor);

    const { data: tree } = await send(meter, `reading the tree of ${repository}@${head.sha}`, () =>
      octokit.rest.git.getTree({ owner, repo, tree_sha: head.treeSha, recursive: "1" }),
    );
    const skipped: SkippedFile[] = tree.truncated ? [{ path: ".", reason: "tree truncated" }] : [];
    const wanted: Array<{ path: string; sha: string }> = [];
    for (const entry of tree.tree) {
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

    const files: ForgeFile[] = [];
    await forEachLimited(wanted, BLOB_CONCURRENCY, async ({ path, sha }) => {
      const { data } = await send(meter, `reading ${repository}:${path}`, () => octokit.rest.git.getBlob({ owner, repo, file_sha: sha }));
      const bytes = data.encoding === "base64" ? Buffer.from(data.content, "base64") : Buffer.from(data.content, "utf8");
      const text = decodeText(bytes);
      if (bytes.length > MAX_SCAN_FILE_BYTES) skipped.push({ path, reason: "too large" });
      else if (text === null) skipped.push({ path, reason: "binary" });
      else files.push({ path, text });
    });

    return {
      repository,
      revision: head.sha,
      unchanged: false,
      files: files.sort(byPath),
      skipped: skipped.sort(byPath),
      cursor,
      calls: meter.calls,
      rateLimitRemaining: meter.rateLimitRemaining,
    };
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

function parseCursor(cursor: string | undefined): { sha: string; etag: string } | null {
  const match = cursor === undefined ? null : /^([0-9a-f]{40}(?:[0-9a-f]{24})?) (\S.*)$/.exec(cursor);
  return match === null ? null : { sha: match[1] ?? "", etag: match[2] ?? "" };
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

function statusOf(error: unknown): number | null {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : null;
}

function isUnprocessable(error: unknown, message: RegExp): boolean {
  if (statusOf(error) !== 422) return false;
  const data = (error as { response?: { data?: unknown } }).response?.data;
  const texts = [(error as Error).message, JSON.stringify(data ?? null)];
  return texts.some((text) => message.test(text));
}

/**
 * An Octokit failure as an UpstreamError: the action, the status and GitHub's short `message`, never
 * request headers or the token; the Octokit error is not kept as `cause` because it holds the request.
 * Octokit reports a request that got no answer as status 500 without a response: that is a network error.
 */
function toGitHubError(error: unknown, action: string): AppError {
  if (error instanceof AppError) return error;
  const status = statusOf(error);
  const response = (error as { response?: { headers?: Headers; data?: unknown } } | null)?.response;
  if (status !== null && response !== undefined) {
    const message = (response.data as { message?: unknown } | null)?.message;
    const short = typeof message === "string" ? `: ${message.slice(0, 200)}` : "";
    const rateLimited = (status === 403 || status === 429) && (response.headers?.["x-ratelimit-remaining"] === "0" || /rate limit/i.test(String(message)));
    return new UpstreamError(SERVICE, `${action} failed with HTTP ${status}${short}`, { status, ...(rateLimited ? { retryable: true } : {}) });
  }
  if (status !== null) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === "string" ? ` ${cause.code}` : "";
    return new UpstreamError(SERVICE, `${action} failed: network error${code}`, { status: null, retryable: true });
  }
  const summary = error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : typeof error;
  return new UpstreamError(SERVICE, `${action} failed: ${summary}`, { status: null, retryable: false });
}
