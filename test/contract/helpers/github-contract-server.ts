import { createHash, createPublicKey, randomBytes, verify as verifySignature } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StackTls } from "../../../shared/local/tls.js";
import { makeGitHubTarball } from "./tarball.js";
import { buildTree, entryOf, flatten, isAncestor, resolveTree, writeBlob, writeCommit, type Entry, type GitObjects, type StoredCommit, type TreeFile } from "./github-git-objects.js";

/** GitHub's message for a secondary rate limit; Octokit's throttling plugin recognises it by "secondary rate". */
export const SECONDARY_RATE_LIMIT_MESSAGE =
  "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";
export const RATE_LIMIT_LIMIT = 5000;
/** Where GitHub's rate-limit answers point (`documentation_url`). */
export const RATE_LIMIT_DOCUMENTATION = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
/** What a new installation token may do unless the test says otherwise: no `workflows`, as most App installations. */
export const DEFAULT_PERMISSIONS: Readonly<Record<string, "read" | "write">> = { contents: "write", pull_requests: "write", issues: "write", metadata: "read" };

export type { StoredCommit, TreeFile };

/** One request the server saw. `path` is decoded per segment (so `heads%2Fx` reads `heads/x`) and keeps its query. */
export interface GitHubRequest {
  readonly method: string;
  readonly path: string;
  /** `bearer` (an App JWT), `token` (an installation token), or null. */
  readonly auth: "bearer" | "token" | null;
  readonly ifNoneMatch: string | null;
  /** The `Accept` header as sent. */
  readonly accept: string | null;
  readonly body: unknown;
  /** `performance.now()` when the request arrived. */
  readonly at: number;
  readonly status: number;
}

export interface StoredPull {
  readonly number: number;
  readonly head: string;
  readonly base: string;
  title: string;
  body: string;
  state: "open" | "closed";
  mergedAt: string | null;
  labels: string[];
  readonly baseSha: string;
  readonly createdAt: string;
  /** The head commit when the pull request was closed (the branch may move or vanish later). */
  closedHeadSha: string | null;
}

/** A queued fault: the next `times` requests of `method` on `path` (decoded, without query) are answered with `status`. */
export interface Fault {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly message: string;
  readonly documentationUrl: string;
  readonly headers: Readonly<Record<string, string>>;
  remaining: number;
}

/**
 * A small in-memory GitHub over HTTPS that follows the REST contract `@octokit/rest` 22 and
 * `@octokit/auth-app` 8 use, and answers as GitHub does where GitHub is strict:
 * - the App installation token exchange (`POST /app/installations/{id}/access_tokens` with an RS256 JWT
 *   checked against the App's public key) mints a new token each time, with the `permissions` set then;
 *   API calls need `token <one of them>`;
 * - `GET /repos/{o}/{r}/commits/{ref}`: JSON with a weak `ETag` tied to the token (a rotated token never
 *   gets a 304 for another token's ETag), or with `Accept: application/vnd.github.sha` the bare SHA as
 *   text with the SHA itself as the `ETag` (GitHub's documented check: `If-None-Match: "<sha>"` → 304);
 *   a 304 does not count against the rate limit;
 * - `POST /git/trees` takes only a tree SHA as `base_tree` (`422 base_tree is not a valid tree oid` for a
 *   commit SHA), and answers `404 Not Found` when the tree changes a file under `.github/workflows/` and the
 *   token lacks `workflows: write` (GitHub's answer to the REST API; `git push` says "refusing to allow a
 *   GitHub App to create or update workflow … without `workflows` permission");
 * - `GET /repos/{o}/{r}`, git trees (by tree or commit SHA or branch; recursive, truncated past
 *   `maxTreeEntries`), blobs (base64), commits and refs (`422 Reference already exists`, `Reference does
 *   not exist`, `Update is not a fast forward`), pulls (`Link` pagination, `422 A pull request already
 *   exists for owner:branch.`), issue updates and labels, `GET /installation/repositories` (every stored
 *   repository: the installation's selection is "all");
 * - `x-ratelimit-*` headers; once `x-ratelimit-remaining` is 0 every API call gets `403` (or `429`) `API rate
 *   limit exceeded for installation ID …` until `x-ratelimit-reset`; secondary limits (403 or 429, with or
 *   without `retry-after`) and other faults are queued per route.
 * Object SHAs are real git SHA-1s of real git objects.
 */
export interface GitHubContractServer {
  /** `https://127.0.0.1:<port>`, Octokit's `baseUrl`. */
  readonly url: string;
  readonly requests: GitHubRequest[];
  /** Creates `owner/name` with one commit holding `files` on `defaultBranch` (default `main`); returns the commit SHA. */
  addRepository(fullName: string, files: Readonly<Record<string, TreeFile>>, defaultBranch?: string): string;
  /** Commits `files` (replacing those paths; null deletes) on top of `branch`; returns the new commit SHA. */
  push(fullName: string, branch: string, files: Readonly<Record<string, TreeFile | null>>, message?: string): string;
  /** Adds a pull request of `head` into the default branch, as if someone opened it; returns its number. */
  addPullRequest(fullName: string, pull: { head: string; title: string; body?: string; state?: "open" | "closed" | "merged"; labels?: string[] }): number;
  branchHead(fullName: string, branch: string): string | undefined;
  commit(fullName: string, sha: string): StoredCommit | undefined;
  /** The text of every file of a commit, by path (symlinks and submodules left out). */
  filesAt(fullName: string, commitSha: string): Record<string, string>;
  pulls(fullName: string): StoredPull[];
  /** Answers the next `times` requests of `method path` with `status` (Infinity: always). */
  fail(method: string, path: string, status: number, times: number, options?: { message?: string; headers?: Record<string, string> }): void;
  /** Answers the next `times` requests of `method path` with GitHub's secondary rate limit: `status` 403 or 429, `retry-after` when given. */
  limitSecondary(method: string, path: string, options: { status: 403 | 429; retryAfterSeconds?: number; times: number }): void;
  /** Queued faults (and secondary limits) not yet served; Infinity while one answers always. */
  faultsLeft(): number;
  /**
   * Merges an open pull request as a reviewer's "Create a merge commit" does: a commit with the head's tree
   * and the base branch's head and the pull request's head as parents moves the base branch; the pull
   * request is closed as merged. Returns the merge commit's SHA. Throws for a pull request that is not open.
   */
  merge(fullName: string, number: number): string;
  /** Spends the primary rate limit: every API call gets `status` with `x-ratelimit-remaining: 0` until `resetInSeconds` from now. */
  exhaustRateLimit(options: { status: 403 | 429; resetInSeconds: number }): void;
  /** Archives `owner/name`: listed with `archived: true` (writes to it are not refused). */
  archive(fullName: string): void;
  /** Recursive trees list at most this many entries and say `truncated: true` beyond (default unlimited). */
  maxTreeEntries: number;
  /** The largest `per_page` list routes honour; larger values are capped (default 100, GitHub's cap). */
  maxPerPage: number;
  /** The installation token the server handed out last ("" before the first exchange). */
  readonly installationToken: string;
  /** The permissions the next installation token gets (tokens keep theirs). Default {@link DEFAULT_PERMISSIONS}. */
  permissions: Record<string, "read" | "write">;
  /** The issues endpoints and their store (see {@link GitHubIssueTracker}). */
  readonly issueTracker: GitHubIssueTracker;
  stop(): Promise<void>;
}

export interface GitHubContractServerOptions {
  readonly tls: Pick<StackTls, "certPath" | "keyPath">;
  readonly appId: number;
  /** The App's public key (PEM): the JWT signature is checked against it. */
  readonly appPublicKey: string;
  readonly installationId: number;
}

interface Repository extends GitObjects {
  readonly owner: string;
  readonly name: string;
  readonly id: number;
  readonly defaultBranch: string;
  archived: boolean;
  readonly pulls: StoredPull[];
  readonly labels: Map<string, number>;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: unknown[],
    readonly documentationUrl = "https://docs.github.com/rest",
  ) {
    super(message);
  }
}

/** One API request as the routes read it: the token it came with and that token's permissions. */
interface Call {
  readonly method: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
  readonly ifNoneMatch: string | null;
  readonly accept: string;
  readonly token: string;
  readonly permissions: Readonly<Record<string, string>>;
}

/** A tree entry at `path` changes a workflow file: the file itself, or `.github` / `.github/workflows` as a whole. */
function touchesWorkflows(path: string): boolean {
  return path === ".github" || path === ".github/workflows" || path.startsWith(".github/workflows/");
}

const TREE_MODES = new Set(["100644", "100755", "040000", "160000", "120000"]);

/** Starts the server on a free loopback port with the stack's server certificate. */
export async function startGitHubContractServer(options: GitHubContractServerOptions): Promise<GitHubContractServer> {
  const requests: GitHubRequest[] = [];
  const repositories = new Map<string, Repository>();
  const faults: Fault[] = [];
  /** Every installation token handed out, with the permissions it was minted with. */
  const tokens = new Map<string, Readonly<Record<string, string>>>();
  let latestToken = "";
  const publicKey = createPublicKey(options.appPublicKey);
  let rateLimitRemaining = RATE_LIMIT_LIMIT;
  let rateLimitReset = Math.floor(Date.now() / 1000) + 3600;
  let exhaustedStatus: 403 | 429 = 403;
  let url = "";
  let clock = Date.parse("2024-07-22T18:00:00Z");
  const now = (): string => new Date((clock += 1000)).toISOString().replace(/\.\d+Z$/, "Z");

  const repositoryOf = (fullName: string): Repository => {
    const repository = repositories.get(fullName.toLowerCase());
    if (repository === undefined) throw new HttpProblem(404, "Not Found");
    return repository;
  };

  const stampCommit = (repository: Repository, tree: string, parents: readonly string[], message: string): string =>
    writeCommit(repository, { tree, parents, message, seconds: Math.floor((clock += 1000) / 1000) });

  // JSON shapes ---------------------------------------------------------------------------------
  const apiUrl = (repository: Repository, rest: string): string => `${url}/repos/${repository.owner}/${repository.name}${rest}`;
  const repoJson = (repository: Repository): Record<string, unknown> => ({
    id: repository.id,
    node_id: `R_${repository.id}`,
    name: repository.name,
    full_name: `${repository.owner}/${repository.name}`,
    private: true,
    owner: { login: repository.owner, id: repository.id * 10, type: "Organization" },
    html_url: `https://github.com/${repository.owner}/${repository.name}`,
    url: apiUrl(repository, ""),
    fork: false,
    visibility: "private",
    archived: repository.archived,
    disabled: false,
    default_branch: repository.defaultBranch,
  });
  const commitJson = (repository: Repository, commit: StoredCommit): Record<string, unknown> => ({
    sha: commit.sha,
    node_id: `C_${commit.sha}`,
    url: apiUrl(repository, `/commits/${commit.sha}`),
    html_url: `https://github.com/${repository.owner}/${repository.name}/commit/${commit.sha}`,
    commit: {
      message: commit.message,
      tree: { sha: commit.tree, url: apiUrl(repository, `/git/trees/${commit.tree}`) },
      author: { name: "Ripple", email: "ripple@example.com", date: "2024-07-22T18:00:00Z" },
      committer: { name: "Ripple", email: "ripple@example.com", date: "2024-07-22T18:00:00Z" },
    },
    parents: commit.parents.map((sha) => ({ sha, url: apiUrl(repository, `/commits/${sha}`) })),
    stats: { total: 0, additions: 0, deletions: 0 },
    files: [],
  });
  const labelJson = (repository: Repository, name: string): Record<string, unknown> => ({ id: repository.labels.get(name) ?? 0, name, color: "ededed", default: false });
  const headShaOf = (repository: Repository, pull: StoredPull): string => pull.closedHeadSha ?? repository.refs.get(`heads/${pull.head}`) ?? "";
  const pullJson = (repository: Repository, pull: StoredPull): Record<string, unknown> => ({
    url: apiUrl(repository, `/pulls/${pull.number}`),
    id: repository.id * 1000 + pull.number,
    number: pull.number,
    html_url: `https://github.com/${repository.owner}/${repository.name}/pull/${pull.number}`,
    state: pull.state,
    title: pull.title,
    body: pull.body === "" ? null : pull.body,
    labels: pull.labels.map((name) => labelJson(repository, name)),
    created_at: pull.createdAt,
    merged_at: pull.mergedAt,
    head: { label: `${repository.owner}:${pull.head}`, ref: pull.head, sha: headShaOf(repository, pull), repo: repoJson(repository) },
    base: { label: `${repository.owner}:${pull.base}`, ref: pull.base, sha: pull.baseSha, repo: repoJson(repository) },
  });
  const issueJson = (repository: Repository, pull: StoredPull): Record<string, unknown> => ({
    url: apiUrl(repository, `/issues/${pull.number}`),
    number: pull.number,
    title: pull.title,
    body: pull.body === "" ? null : pull.body,
    state: pull.state,
    labels: pull.labels.map((name) => labelJson(repository, name)),
    pull_request: { url: apiUrl(repository, `/pulls/${pull.number}`) },
  });
  const treeEntryJson = (repository: Repository, path: string, entry: Entry): Record<string, unknown> => ({
    path,
    mode: entry.mode,
    type: entry.type,
    sha: entry.sha,
    ...(entry.type === "blob" ? { size: repository.blobs.get(entry.sha)?.length ?? 0 } : {}),
    url: apiUrl(repository, `/git/${entry.type === "tree" ? "trees" : "blobs"}/${entry.sha}`),
  });
  const labelId = (repository: Repository, name: string): void => {
    if (!repository.labels.has(name)) repository.labels.set(name, repository.labels.size + 1);
  };
  const pullOf = (repository: Repository, number: string | undefined): StoredPull => {
    const pull = repository.pulls.find((candidate) => String(candidate.number) === number);
    if (pull === undefined) throw new HttpProblem(404, "Not Found");
    return pull;
  };

  // routes --------------------------------------------------------------------------------------
  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

  /** `GET commits/{ref}`: JSON with a weak ETag tied to the token, or with the `sha` media type the SHA as text, its own ETag. */
  const getCommit = (repository: Repository, ref: string, call: Call): Answer => {
    const sha = ref === "HEAD" ? repository.refs.get(`heads/${repository.defaultBranch}`) : repository.commits.has(ref) ? ref : repository.refs.get(`heads/${ref}`);
    const commit = sha === undefined ? undefined : repository.commits.get(sha);
    if (commit === undefined) throw new HttpProblem(422, `No commit found for SHA: ${ref}`);
    const wantsSha = /application\/vnd\.github(?:\.v3)?\.sha/.test(call.accept);
    const json = wantsSha ? null : commitJson(repository, commit);
    const etag = wantsSha ? `"${commit.sha}"` : `W/"${createHash("sha256").update(call.token).update(JSON.stringify(json)).digest("hex")}"`;
    const candidates = (call.ifNoneMatch ?? "").split(/\s*,\s*/).map((tag) => tag.replace(/^W\//, ""));
    if (candidates.includes(etag.replace(/^W\//, ""))) return { status: 304, headers: { etag } };
    if (json !== null) return { status: 200, body: json, headers: { etag } };
    return { status: 200, body: commit.sha, headers: { etag, "content-type": "application/vnd.github.sha; charset=utf-8" } };
  };

  /** `GET tarball/{ref}`: the commit's files under `owner-name-sha7/`, answered here rather than through codeload's redirect. */
  const getTarball = (repository: Repository, ref: string): Answer => {
    const sha = repository.commits.has(ref) ? ref : repository.refs.get(`heads/${ref}`);
    const commit = sha === undefined ? undefined : repository.commits.get(sha);
    if (commit === undefined) throw new HttpProblem(404, "Not Found");
    const files = Object.fromEntries([...flatten(repository, commit.tree)].flatMap(([path, entry]) =>
      entry.type === "blob" ? [[path, { content: repository.blobs.get(entry.sha)?.toString("utf8") ?? "", symlink: entry.mode === "120000" }] as const] : []));
    const body = makeGitHubTarball(`${repository.owner}-${repository.name}-${commit.sha.slice(0, 7)}`, commit.sha, files);
    return { status: 200, body, headers: { "content-type": "application/x-gzip", "content-disposition": `attachment; filename=${repository.owner}-${repository.name}-${commit.sha.slice(0, 7)}.tar.gz` } };
  };

  const gitRoute = (repository: Repository, rest: string[], call: Call): Answer => {
    const { method, body, query } = call;
    switch (`${method} ${rest[1] ?? ""}`) {
      case "GET trees": {
        const treeSha = resolveTree(repository, rest.slice(2).join("/"));
        if (treeSha === undefined) throw new HttpProblem(404, "Not Found");
        const recursive = query.has("recursive") && !["0", "false", ""].includes(query.get("recursive") ?? "");
        const entries = recursive ? flatten(repository, treeSha, true) : (repository.trees.get(treeSha) ?? new Map<string, Entry>());
        const listed = [...entries].map(([path, entry]) => treeEntryJson(repository, path, entry));
        const truncated = listed.length > server.maxTreeEntries;
        return { status: 200, body: { sha: treeSha, url: apiUrl(repository, `/git/trees/${treeSha}`), tree: listed.slice(0, server.maxTreeEntries), truncated } };
      }
      case "GET blobs": {
        const sha = rest[2] ?? "";
        const content = repository.blobs.get(sha);
        if (content === undefined) throw new HttpProblem(404, "Not Found");
        const base64 = content.toString("base64").replace(/.{60}/g, "$&\n");
        return { status: 200, body: { sha, node_id: `B_${sha}`, size: content.length, url: apiUrl(repository, `/git/blobs/${sha}`), content: base64, encoding: "base64" } };
      }
      case "POST trees":
        return { status: 201, body: createTree(repository, call) };
      case "GET commits": {
        const commit = repository.commits.get(rest[2] ?? "");
        if (commit === undefined) throw new HttpProblem(404, "Not Found");
        return { status: 200, body: gitCommitJson(repository, commit) };
      }
      case "POST commits": {
        const tree = typeof body.tree === "string" ? body.tree : "";
        const parents = Array.isArray(body.parents) ? body.parents.map(String) : [];
        if (typeof body.message !== "string") throw new HttpProblem(422, "Invalid request.\n\n\"message\" wasn't supplied.");
        if (!repository.trees.has(tree)) throw new HttpProblem(422, "Tree SHA does not exist");
        if (parents.some((parent) => !repository.commits.has(parent))) throw new HttpProblem(422, "Parent SHA does not exist or is not a commit object");
        const sha = stampCommit(repository, tree, parents, body.message);
        return { status: 201, body: gitCommitJson(repository, repository.commits.get(sha) as StoredCommit) };
      }
      case "GET ref": {
        const ref = rest.slice(2).join("/");
        const sha = repository.refs.get(ref);
        if (sha === undefined) throw new HttpProblem(404, "Not Found");
        return { status: 200, body: refJson(repository, ref, sha) };
      }
      case "POST refs": {
        const ref = typeof body.ref === "string" ? body.ref : "";
        const sha = typeof body.sha === "string" ? body.sha : "";
        if (!/^refs\/[^/]+\/.+/.test(ref)) throw new HttpProblem(422, "ref must start with 'refs' and have at least two slashes.");
        if (!repository.commits.has(sha)) throw new HttpProblem(422, "Object does not exist");
        const name = ref.slice("refs/".length);
        if (repository.refs.has(name)) throw new HttpProblem(422, "Reference already exists");
        repository.refs.set(name, sha);
        return { status: 201, body: refJson(repository, name, sha) };
      }
      case "PATCH refs": {
        const ref = rest.slice(2).join("/");
        const sha = typeof body.sha === "string" ? body.sha : "";
        const current = repository.refs.get(ref);
        if (current === undefined) throw new HttpProblem(422, "Reference does not exist");
        if (!repository.commits.has(sha)) throw new HttpProblem(422, "Object does not exist");
        if (body.force !== true && !isAncestor(repository, current, sha)) throw new HttpProblem(422, "Update is not a fast forward");
        repository.refs.set(ref, sha);
        return { status: 200, body: refJson(repository, ref, sha) };
      }
    }
    throw new HttpProblem(404, "Not Found");
  };

  const pullsRoute = (repository: Repository, rest: string[], call: Call): Answer => {
    const { body } = call;
    switch (`${call.method} ${rest[0] ?? ""}`) {
      case "GET pulls":
        return rest.length === 2 ? { status: 200, body: pullJson(repository, pullOf(repository, rest[1])) } : listPulls(repository, call.query);
      case "POST pulls":
        return { status: 201, body: pullJson(repository, createPull(repository, body)) };
      case "PATCH pulls": {
        const pull = pullOf(repository, rest[1]);
        if (typeof body.title === "string") pull.title = body.title;
        if (typeof body.body === "string") pull.body = body.body;
        return { status: 200, body: pullJson(repository, pull) };
      }
      case "PATCH issues": {
        const pull = pullOf(repository, rest[1]);
        if (typeof body.title === "string") pull.title = body.title;
        if (typeof body.body === "string") pull.body = body.body;
        if (Array.isArray(body.labels)) {
          pull.labels = [...new Set(body.labels.map(String))];
          pull.labels.forEach((name) => labelId(repository, name));
        }
        return { status: 200, body: issueJson(repository, pull) };
      }
      case "POST issues": {
        if (rest[2] !== "labels") break;
        const pull = pullOf(repository, rest[1]);
        const labels = Array.isArray(body.labels) ? body.labels.map(String) : [];
        if (labels.length === 0) throw new HttpProblem(422, "Invalid request.\n\nNo subschema in \"anyOf\" matched.");
        for (const name of labels) {
          labelId(repository, name);
          if (!pull.labels.includes(name)) pull.labels.push(name);
        }
        return { status: 200, body: pull.labels.map((name) => labelJson(repository, name)) };
      }
    }
    throw new HttpProblem(404, "Not Found");
  };

  const repositoryRoute = (repository: Repository, rest: string[], call: Call): Answer => {
    if (rest[0] === "git") return gitRoute(repository, rest, call);
    if (call.method === "GET" && rest.length === 0) return { status: 200, body: repoJson(repository) };
    if (call.method === "GET" && rest[0] === "commits") return getCommit(repository, rest.slice(1).join("/"), call);
    if (call.method === "GET" && rest[0] === "tarball") return getTarball(repository, rest.slice(1).join("/"));
    const issueAnswer = issueTracker.route(repository, rest, call);
    if (issueAnswer !== null) return issueAnswer;
    return pullsRoute(repository, rest, call);
  };

  const refJson = (repository: Repository, ref: string, sha: string): Record<string, unknown> => ({
    ref: `refs/${ref}`,
    node_id: `REF_${ref}`,
    url: apiUrl(repository, `/git/refs/${ref}`),
    object: { sha, type: "commit", url: apiUrl(repository, `/git/commits/${sha}`) },
  });

  /** A commit as the git database endpoints (`GET` / `POST /git/commits`) answer it. */
  const gitCommitJson = (repository: Repository, commit: StoredCommit): Record<string, unknown> => {
    const { commit: details, parents, html_url } = commitJson(repository, commit) as { commit: Record<string, unknown>; parents: unknown; html_url: unknown };
    return { sha: commit.sha, url: apiUrl(repository, `/git/commits/${commit.sha}`), tree: details.tree, parents, message: commit.message, author: details.author, committer: details.committer, html_url };
  };

  const TREES_DOCUMENTATION = "https://docs.github.com/rest/git/trees#create-a-tree";

  /** The entries a `POST /git/trees` body changes, checked as GitHub checks them. */
  const treeEntries = (body: Record<string, unknown>): Array<{ path: string; mode: string; type: Entry["type"]; item: Record<string, unknown> }> => {
    const entries = Array.isArray(body.tree) ? (body.tree as Array<Record<string, unknown>>) : [];
    if (entries.length === 0) throw new HttpProblem(422, "Invalid request.\n\n\"tree\" wasn't supplied.");
    return entries.map((item) => {
      const path = typeof item.path === "string" ? item.path : "";
      const mode = typeof item.mode === "string" ? item.mode : "";
      const type = item.type;
      if (path === "" || path.startsWith("/") || path.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
        throw new HttpProblem(422, `tree.path contains a malformed path component`);
      }
      if (!TREE_MODES.has(mode) || (type !== "blob" && type !== "tree" && type !== "commit")) throw new HttpProblem(422, "Invalid request.\n\nInvalid tree entry mode or type.");
      if ((item.content === undefined) === (item.sha === undefined)) throw new HttpProblem(422, "Invalid request.\n\nEither \"content\" or \"sha\" must be supplied, not both.");
      return { path, mode, type, item };
    });
  };

  const createTree = (repository: Repository, call: Call): Record<string, unknown> => {
    const { body } = call;
    const flat = new Map<string, Entry>();
    if (body.base_tree !== undefined) {
      // A tree SHA only: GitHub does not peel a commit (or a branch name) here, unlike on tree reads.
      const base = String(body.base_tree);
      if (!repository.trees.has(base)) throw new HttpProblem(422, "base_tree is not a valid tree oid", undefined, TREES_DOCUMENTATION);
      for (const [path, entry] of flatten(repository, base)) flat.set(path, entry);
    }
    const entries = treeEntries(body);
    if (call.permissions.workflows !== "write" && entries.some(({ path }) => touchesWorkflows(path))) {
      // What GitHub answers a GitHub App without `workflows: write` that changes a workflow file through the REST API.
      throw new HttpProblem(404, "Not Found", undefined, TREES_DOCUMENTATION);
    }
    for (const { path, mode, type, item } of entries) {
      for (const existing of [...flat.keys()]) if (existing === path || existing.startsWith(`${path}/`)) flat.delete(existing);
      if (item.sha === null) continue;
      const sha = typeof item.content === "string" ? writeBlob(repository, Buffer.from(item.content, "utf8")) : String(item.sha);
      flat.set(path, { mode, type, sha });
    }
    const sha = buildTree(repository, flat);
    const listed = [...(repository.trees.get(sha) ?? [])].map(([path, entry]) => treeEntryJson(repository, path, entry));
    return { sha, url: apiUrl(repository, `/git/trees/${sha}`), tree: listed, truncated: false };
  };

  const createPull = (repository: Repository, body: Record<string, unknown>): StoredPull => {
    const head = typeof body.head === "string" ? body.head.replace(new RegExp(`^${repository.owner}:`, "i"), "") : "";
    const base = typeof body.base === "string" ? body.base : "";
    const invalid = (field: string): HttpProblem => new HttpProblem(422, "Validation Failed", [{ resource: "PullRequest", field, code: "invalid" }]);
    if (typeof body.title !== "string" || body.title === "") throw new HttpProblem(422, "Validation Failed", [{ resource: "PullRequest", field: "title", code: "missing_field" }]);
    if (!repository.refs.has(`heads/${base}`)) throw invalid("base");
    if (!repository.refs.has(`heads/${head}`)) throw invalid("head");
    if (repository.pulls.some((pull) => pull.state === "open" && pull.head === head && pull.base === base)) {
      throw new HttpProblem(422, "Validation Failed", [{ resource: "PullRequest", code: "custom", message: `A pull request already exists for ${repository.owner}:${head}.` }]);
    }
    const pull: StoredPull = {
      number: repository.pulls.length + 1,
      head,
      base,
      title: body.title,
      body: typeof body.body === "string" ? body.body : "",
      state: "open",
      mergedAt: null,
      labels: [],
      baseSha: repository.refs.get(`heads/${base}`) ?? "",
      createdAt: now(),
      closedHeadSha: null,
    };
    repository.pulls.push(pull);
    return pull;
  };

  /** One `per_page` (default 30, capped at `maxPerPage`) / `page` page of `items`, with GitHub's `Link` header back to `endpoint`. */
  const pageOf = <T>(items: readonly T[], query: URLSearchParams, endpoint: string): { items: T[]; headers: Record<string, string> } => {
    const perPage = Math.min(Math.max(Number(query.get("per_page") ?? 30) || 30, 1), server.maxPerPage);
    const page = Math.max(Number(query.get("page") ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const link = (target: number): string => {
      const next = new URLSearchParams(query);
      next.set("page", String(target));
      return `<${endpoint}?${next.toString()}>`;
    };
    const links = [
      ...(page < last ? [`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`] : []),
      ...(page > 1 ? [`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`] : []),
    ];
    return { items: items.slice((page - 1) * perPage, page * perPage), headers: links.length === 0 ? {} : { link: links.join(", ") } };
  };

  const listPulls = (repository: Repository, query: URLSearchParams): Answer => {
    const state = query.get("state") ?? "open";
    const head = query.get("head");
    const matching = repository.pulls
      .filter((pull) => state === "all" || pull.state === state)
      .filter((pull) => head === null || `${repository.owner}:${pull.head}`.toLowerCase() === head.toLowerCase())
      .sort((a, b) => b.number - a.number);
    const { items, headers } = pageOf(matching, query, apiUrl(repository, "/pulls"));
    return { status: 200, body: items.map((pull) => pullJson(repository, pull)), headers };
  };

  const issueTracker = createIssueTracker({ repositoryOf, apiUrl, labelJson, labelId, pullAsIssue: issueJson, pageOf, now });

  /** `GET /installation/repositories`: every repository, archived ones included (callers filter), by id. */
  const listInstallationRepositories = (query: URLSearchParams): Answer => {
    const all = [...repositories.values()].sort((a, b) => a.id - b.id);
    const { items, headers } = pageOf(all, query, `${url}/installation/repositories`);
    return { status: 200, body: { total_count: all.length, repository_selection: "all", repositories: items.map(repoJson) }, headers };
  };

  const checkJwt = (authorization: string): boolean => {
    const [header, payload, signature] = authorization.replace(/^bearer\s+/i, "").split(".");
    if (header === undefined || payload === undefined || signature === undefined) return false;
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { iss?: unknown; exp?: unknown; iat?: unknown };
    const alg = (JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as { alg?: unknown }).alg;
    const nowSeconds = Date.now() / 1000;
    return (
      alg === "RS256" &&
      String(claims.iss) === String(options.appId) &&
      typeof claims.exp === "number" &&
      claims.exp > nowSeconds &&
      claims.exp - nowSeconds <= 600 + 60 &&
      verifySignature("RSA-SHA256", Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, "base64url"))
    );
  };

  const mintToken = (): Answer => {
    const token = `ghs_${randomBytes(18).toString("hex")}`;
    const permissions = { ...server.permissions };
    tokens.set(token, permissions);
    latestToken = token;
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    return { status: 201, body: { token, expires_at: expiresAt, permissions, repository_selection: "all" } };
  };

  const route = (segments: string[], authorization: string, request: Omit<Call, "body" | "token" | "permissions"> & { body: unknown }): Answer => {
    const { method, query, body } = request;
    if (method === "POST" && segments[0] === "app" && segments[1] === "installations" && segments[3] === "access_tokens" && segments.length === 4) {
      if (!/^bearer\s/i.test(authorization) || !checkJwt(authorization)) throw new HttpProblem(401, "A JSON web token could not be decoded");
      if (segments[2] !== String(options.installationId)) throw new HttpProblem(404, "Not Found");
      return mintToken();
    }
    const token = /^token\s+(\S+)$/i.exec(authorization)?.[1] ?? "";
    const permissions = tokens.get(token);
    if (permissions === undefined) throw new HttpProblem(401, "Bad credentials");
    if (method === "GET" && segments.length === 2 && segments[0] === "installation" && segments[1] === "repositories") return listInstallationRepositories(query);
    if (segments[0] !== "repos" || segments.length < 3) throw new HttpProblem(404, "Not Found");
    const repository = repositoryOf(`${segments[1]}/${segments[2]}`);
    const payload = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    return repositoryRoute(repository, segments.slice(3), { ...request, body: payload, token, permissions });
  };

  /** GitHub's answer once the primary rate limit is spent, or null (a new window starts at `x-ratelimit-reset`). */
  const rateLimited = (): Answer | null => {
    if (rateLimitRemaining > 0) return null;
    if (Date.now() >= rateLimitReset * 1000) {
      rateLimitRemaining = RATE_LIMIT_LIMIT;
      rateLimitReset = Math.floor(Date.now() / 1000) + 3600;
      return null;
    }
    return { status: exhaustedStatus, body: { message: `API rate limit exceeded for installation ID ${options.installationId}.`, documentation_url: RATE_LIMIT_DOCUMENTATION, status: String(exhaustedStatus) } };
  };

  /** The answer to one request: a spent rate limit, a queued fault, or the route's (GitHub's error shape for a refusal). */
  const answerTo = (segments: string[], authorization: string, request: Omit<Call, "body" | "token" | "permissions"> & { body: unknown }): Answer => {
    const path = `/${segments.join("/")}`;
    const limited = path.startsWith("/app/") ? null : rateLimited();
    if (limited !== null) return limited;
    const fault = faults.find((candidate) => candidate.method === request.method && candidate.path === path && candidate.remaining > 0);
    if (fault !== undefined) {
      fault.remaining -= 1;
      return { status: fault.status, body: { message: fault.message, documentation_url: fault.documentationUrl }, headers: { ...fault.headers } };
    }
    try {
      return route(segments, authorization, request);
    } catch (error) {
      if (!(error instanceof HttpProblem)) throw error;
      const errors = error.errors === undefined ? {} : { errors: error.errors };
      return { status: error.status, body: { message: error.message, ...errors, documentation_url: error.documentationUrl, status: String(error.status) } };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestUrl = new URL(req.url ?? "/", url);
    const segments = requestUrl.pathname.split("/").slice(1).filter((segment, index, all) => segment !== "" || index < all.length - 1).map((segment) => decodeURIComponent(segment));
    const text = await readBody(req);
    const body = text === "" ? null : (JSON.parse(text) as unknown);
    const method = req.method ?? "GET";
    const authorization = req.headers.authorization ?? "";
    const ifNoneMatch = typeof req.headers["if-none-match"] === "string" ? req.headers["if-none-match"] : null;
    const accept = req.headers.accept ?? null;
    const path = `/${segments.join("/")}`;
    const at = performance.now();

    const answer = answerTo(segments, authorization, { method, query: requestUrl.searchParams, body, ifNoneMatch, accept: accept ?? "" });
    const isApi = !path.startsWith("/app/");
    // A 304 does not count against the primary rate limit (GitHub's conditional-request rule).
    if (isApi && answer.status !== 304) rateLimitRemaining = Math.max(rateLimitRemaining - 1, 0);
    const rateHeaders: Record<string, string> = isApi
      ? {
          "x-ratelimit-limit": String(RATE_LIMIT_LIMIT),
          "x-ratelimit-remaining": String(rateLimitRemaining),
          "x-ratelimit-used": String(RATE_LIMIT_LIMIT - rateLimitRemaining),
          "x-ratelimit-reset": String(rateLimitReset),
          "x-ratelimit-resource": "core",
        }
      : {};
    const auth = /^bearer\s/i.test(authorization) ? "bearer" : /^token\s/i.test(authorization) ? "token" : null;
    requests.push({ method, path: `${path}${requestUrl.search}`, auth, ifNoneMatch, accept, body, at, status: answer.status });
    const headers = { "x-github-api-version-selected": "2022-11-28", ...rateHeaders, ...(answer.headers ?? {}) };
    if (answer.status === 304 || answer.body === undefined) {
      res.writeHead(answer.status, headers);
      res.end();
      return;
    }
    const payload = typeof answer.body === "string" || Buffer.isBuffer(answer.body) ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(payload)), ...headers });
    res.end(payload);
  };

  const [cert, key] = await Promise.all([readFile(options.tls.certPath), readFile(options.tls.keyPath)]);
  const httpServer: Server = createServer({ cert, key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: `contract server failure: ${String(error)}` }));
      }
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const address = httpServer.address();
  url = `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;

  const server: GitHubContractServer = {
    url,
    requests,
    get installationToken() {
      return latestToken;
    },
    permissions: { ...DEFAULT_PERMISSIONS },
    maxTreeEntries: Number.POSITIVE_INFINITY,
    maxPerPage: 100,
    issueTracker,
    addRepository(fullName, files, defaultBranch = "main") {
      const [owner = "", name = ""] = fullName.split("/");
      const repository: Repository = {
        owner,
        name,
        id: repositories.size + 1,
        defaultBranch,
        archived: false,
        blobs: new Map(),
        trees: new Map(),
        commits: new Map(),
        refs: new Map(),
        pulls: [],
        labels: new Map(),
      };
      repositories.set(fullName.toLowerCase(), repository);
      const flat = new Map(Object.entries(files).map(([path, file]) => [path, entryOf(repository, file)]));
      const sha = stampCommit(repository, buildTree(repository, flat), [], "Initial commit");
      repository.refs.set(`heads/${defaultBranch}`, sha);
      return sha;
    },
    push(fullName, branch, files, message = "Update") {
      const repository = repositoryOf(fullName);
      const parent = repository.refs.get(`heads/${branch}`);
      const flat = parent === undefined ? new Map<string, Entry>() : flatten(repository, repository.commits.get(parent)?.tree ?? "");
      for (const [path, file] of Object.entries(files)) {
        if (file === null) flat.delete(path);
        else flat.set(path, entryOf(repository, file));
      }
      const sha = stampCommit(repository, buildTree(repository, flat), parent === undefined ? [] : [parent], message);
      repository.refs.set(`heads/${branch}`, sha);
      return sha;
    },
    addPullRequest(fullName, pull) {
      const repository = repositoryOf(fullName);
      const state = pull.state ?? "open";
      const head = repository.refs.get(`heads/${pull.head}`) ?? server.push(fullName, pull.head, { [`.ripple/${pull.head}`]: pull.head });
      const stored: StoredPull = {
        number: repository.pulls.length + 1,
        head: pull.head,
        base: repository.defaultBranch,
        title: pull.title,
        body: pull.body ?? "",
        state: state === "open" ? "open" : "closed",
        mergedAt: state === "merged" ? now() : null,
        labels: [...(pull.labels ?? [])],
        baseSha: repository.refs.get(`heads/${repository.defaultBranch}`) ?? "",
        createdAt: now(),
        closedHeadSha: state === "open" ? null : head,
      };
      stored.labels.forEach((name) => labelId(repository, name));
      repository.pulls.push(stored);
      return stored.number;
    },
    archive(fullName) {
      repositoryOf(fullName).archived = true;
    },
    branchHead: (fullName, branch) => repositoryOf(fullName).refs.get(`heads/${branch}`),
    commit: (fullName, sha) => repositoryOf(fullName).commits.get(sha),
    filesAt(fullName, commitSha) {
      const repository = repositoryOf(fullName);
      const flat = flatten(repository, repository.commits.get(commitSha)?.tree ?? "");
      const out: Record<string, string> = {};
      for (const [path, entry] of [...flat].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (entry.type === "blob" && entry.mode !== "120000") out[path] = repository.blobs.get(entry.sha)?.toString("utf8") ?? "";
      }
      return out;
    },
    pulls: (fullName) => repositoryOf(fullName).pulls,
    fail(method, path, status, times, faultOptions = {}) {
      const documentationUrl = "https://docs.github.com/rest";
      faults.push({ method, path, status, remaining: times, message: faultOptions.message ?? "Injected fault", documentationUrl, headers: faultOptions.headers ?? {} });
    },
    limitSecondary(method, path, { status, retryAfterSeconds, times }) {
      const headers: Record<string, string> = retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) };
      const documentationUrl = `${RATE_LIMIT_DOCUMENTATION}#about-secondary-rate-limits`;
      faults.push({ method, path, status, remaining: times, message: SECONDARY_RATE_LIMIT_MESSAGE, documentationUrl, headers });
    },
    faultsLeft: () => faults.reduce((sum, fault) => sum + fault.remaining, 0),
    merge(fullName, number) {
      const repository = repositoryOf(fullName);
      const pull = pullOf(repository, String(number));
      const head = repository.refs.get(`heads/${pull.head}`);
      const baseHead = repository.refs.get(`heads/${pull.base}`);
      const headCommit = head === undefined ? undefined : repository.commits.get(head);
      if (pull.state !== "open" || headCommit === undefined || baseHead === undefined) throw new Error(`pull request #${number} of ${fullName} cannot be merged`);
      const sha = stampCommit(repository, headCommit.tree, [baseHead, headCommit.sha], `Merge pull request #${number} from ${repository.owner}/${pull.head}`);
      repository.refs.set(`heads/${pull.base}`, sha);
      Object.assign(pull, { state: "closed", mergedAt: now(), closedHeadSha: headCommit.sha });
      return sha;
    },
    exhaustRateLimit({ status, resetInSeconds }) {
      rateLimitRemaining = 0;
      rateLimitReset = Math.floor(Date.now() / 1000) + resetInSeconds;
      exhaustedStatus = status;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        httpServer.closeAllConnections();
        httpServer.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return server;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

// Issues (the GitHub issue alert sink) ---------------------------------------------------------------
// Kept apart from the routes above: `repositoryRoute` hands every `issues` request here first, and what
// this section does not answer (a pull request's `PATCH issues/{n}` or labels) goes on to `pullsRoute`.

/** An issue (not a pull request) the server stores. */
export interface StoredIssue {
  readonly number: number;
  title: string;
  body: string;
  state: "open" | "closed";
  stateReason: "completed" | "not_planned" | "reopened" | null;
  labels: string[];
  readonly createdAt: string;
  closedAt: string | null;
}

/** A comment on an issue or a pull request. */
export interface StoredComment {
  readonly id: number;
  readonly issueNumber: number;
  readonly body: string;
  readonly createdAt: string;
}

/**
 * The issues endpoints as GitHub's OpenAPI description has them, over the same store of pull requests
 * (issues and pull requests share one number sequence; the issues list includes pull requests, each with a
 * `pull_request` key):
 * - `GET /repos/{o}/{r}/issues`: `state` (open, closed, all; default open), `labels` (comma-separated, all
 *   must match), newest first (`sort=created`, `direction=desc`), `per_page` / `page` with `Link`;
 * - `POST /repos/{o}/{r}/issues` (`title` required, `body`, `labels`) → 201;
 * - `GET` / `PATCH /repos/{o}/{r}/issues/{n}` (`title`, `body`, `labels`, `state`, `state_reason`:
 *   completed, not_planned, reopened or null; a closed issue gets `closed_at`), 404 for an unknown number;
 * - `POST /repos/{o}/{r}/issues/{n}/comments` (`body` required) → 201.
 * A token without the `issues` permission (read for reads, write for writes) gets GitHub's 403 `Resource
 * not accessible by integration` with `x-accepted-github-permissions`.
 */
export interface GitHubIssueTracker {
  /** Adds an issue as if someone opened it (labels, state and body as given); returns its number. */
  add(fullName: string, issue: { title: string; body?: string; labels?: string[]; state?: "open" | "closed" }): number;
  issues(fullName: string): StoredIssue[];
  comments(fullName: string, issueNumber: number): string[];
}

type IssueAnswer = { status: number; body?: unknown; headers?: Record<string, string> };
type IssueCall = { readonly method: string; readonly query: URLSearchParams; readonly body: Record<string, unknown>; readonly permissions: Readonly<Record<string, string>> };

/** What the issue routes need of the server: its store of repositories and its JSON and paging helpers. */
interface IssueTrackerDeps {
  repositoryOf(fullName: string): Repository;
  apiUrl(repository: Repository, rest: string): string;
  labelJson(repository: Repository, name: string): Record<string, unknown>;
  labelId(repository: Repository, name: string): void;
  /** A pull request as the issues endpoints answer it. */
  pullAsIssue(repository: Repository, pull: StoredPull): Record<string, unknown>;
  pageOf<T>(items: readonly T[], query: URLSearchParams, endpoint: string): { items: T[]; headers: Record<string, string> };
  now(): string;
}

const ISSUES_DOCUMENTATION = "https://docs.github.com/rest/issues/issues";
const STATE_REASONS: ReadonlySet<unknown> = new Set(["completed", "not_planned", "reopened", null]);

function issueProblem(status: number, message: string, extra: { errors?: unknown[]; headers?: Record<string, string> } = {}): IssueAnswer {
  const errors = extra.errors === undefined ? {} : { errors: extra.errors };
  return { status, body: { message, ...errors, documentation_url: ISSUES_DOCUMENTATION, status: String(status) }, ...(extra.headers === undefined ? {} : { headers: extra.headers }) };
}

/** The issues and comments of every repository, next to the server's repositories. */
interface IssueStore {
  readonly deps: IssueTrackerDeps;
  issuesOf(repository: Repository): StoredIssue[];
  commentsOf(repository: Repository): StoredComment[];
  /** Issues and pull requests share one sequence: the next number after both. */
  nextNumber(repository: Repository): number;
  nextCommentId(): number;
}

function createIssueStore(deps: IssueTrackerDeps): IssueStore {
  const issues = new WeakMap<Repository, StoredIssue[]>();
  const comments = new WeakMap<Repository, StoredComment[]>();
  let commentIds = 9000;
  const listOf = <T>(map: WeakMap<Repository, T[]>, repository: Repository): T[] => {
    if (!map.has(repository)) map.set(repository, []);
    return map.get(repository) as T[];
  };
  return {
    deps,
    issuesOf: (repository) => listOf(issues, repository),
    commentsOf: (repository) => listOf(comments, repository),
    nextNumber: (repository) => Math.max(0, ...repository.pulls.map((pull) => pull.number), ...listOf(issues, repository).map((issue) => issue.number)) + 1,
    nextCommentId: () => (commentIds += 1),
  };
}

function issueJson(store: IssueStore, repository: Repository, issue: StoredIssue): Record<string, unknown> {
  return {
    url: store.deps.apiUrl(repository, `/issues/${issue.number}`),
    html_url: `https://github.com/${repository.owner}/${repository.name}/issues/${issue.number}`,
    id: repository.id * 100_000 + issue.number,
    number: issue.number,
    title: issue.title,
    body: issue.body === "" ? null : issue.body,
    state: issue.state,
    state_reason: issue.stateReason,
    labels: issue.labels.map((name) => store.deps.labelJson(repository, name)),
    comments: store.commentsOf(repository).filter((comment) => comment.issueNumber === issue.number).length,
    created_at: issue.createdAt,
    closed_at: issue.closedAt,
  };
}

function commentJson(store: IssueStore, repository: Repository, comment: StoredComment): Record<string, unknown> {
  return {
    id: comment.id,
    url: store.deps.apiUrl(repository, `/issues/comments/${comment.id}`),
    html_url: `https://github.com/${repository.owner}/${repository.name}/issues/${comment.issueNumber}#issuecomment-${comment.id}`,
    issue_url: store.deps.apiUrl(repository, `/issues/${comment.issueNumber}`),
    body: comment.body,
    created_at: comment.createdAt,
    updated_at: comment.createdAt,
  };
}

/** GitHub's answer to a token that lacks `issues: <level>`, or null when it has it. */
function refusedIssues(call: IssueCall, level: "read" | "write"): IssueAnswer | null {
  const granted = call.permissions.issues;
  if (granted === "write" || (level === "read" && granted === "read")) return null;
  return issueProblem(403, "Resource not accessible by integration", { headers: { "x-accepted-github-permissions": `issues=${level}` } });
}

function invalidIssueField(resource: string, field: string, code = "invalid"): IssueAnswer {
  return issueProblem(422, "Validation Failed", { errors: [{ resource, field, code }] });
}

/** `GET issues`: issues and pull requests, filtered by state and labels, newest first, one page with `Link`. */
function listIssues(store: IssueStore, repository: Repository, query: URLSearchParams): IssueAnswer {
  const state = query.get("state") ?? "open";
  if (!["open", "closed", "all"].includes(state)) return invalidIssueField("Issue", "state");
  const wanted = (query.get("labels") ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "");
  const rows = [
    ...store.issuesOf(repository).map((issue) => ({ number: issue.number, state: issue.state, labels: issue.labels, json: () => issueJson(store, repository, issue) })),
    ...repository.pulls.map((pull) => ({ number: pull.number, state: pull.state, labels: pull.labels, json: () => store.deps.pullAsIssue(repository, pull) })),
  ]
    .filter((row) => state === "all" || row.state === state)
    .filter((row) => wanted.every((name) => row.labels.includes(name)))
    .sort((a, b) => (query.get("direction") === "asc" ? a.number - b.number : b.number - a.number));
  const { items, headers } = store.deps.pageOf(rows, query, store.deps.apiUrl(repository, "/issues"));
  return { status: 200, body: items.map((row) => row.json()), headers };
}

function createIssue(store: IssueStore, repository: Repository, body: Record<string, unknown>): IssueAnswer {
  if (typeof body.title !== "string" || body.title === "") return invalidIssueField("Issue", "title", "missing_field");
  if (body.title.length > 256) return issueProblem(422, "Validation Failed", { errors: [{ resource: "Issue", field: "title", code: "custom", message: "title is too long (maximum is 256 characters)" }] });
  const labels = Array.isArray(body.labels) ? [...new Set(body.labels.map(String))] : [];
  labels.forEach((name) => store.deps.labelId(repository, name));
  const issue: StoredIssue = { number: store.nextNumber(repository), title: body.title, body: typeof body.body === "string" ? body.body : "", state: "open", stateReason: null, labels, createdAt: store.deps.now(), closedAt: null };
  store.issuesOf(repository).push(issue);
  return { status: 201, body: issueJson(store, repository, issue) };
}

/** `PATCH issues/{n}`: title, body, labels; closing stamps `closed_at` (reason completed unless given), reopening clears it. */
function updateIssue(store: IssueStore, repository: Repository, issue: StoredIssue, body: Record<string, unknown>): IssueAnswer {
  if (body.state !== undefined && body.state !== "open" && body.state !== "closed") return invalidIssueField("Issue", "state");
  if (body.state_reason !== undefined && !STATE_REASONS.has(body.state_reason)) return invalidIssueField("Issue", "state_reason");
  if (typeof body.title === "string") issue.title = body.title;
  if (typeof body.body === "string") issue.body = body.body;
  if (Array.isArray(body.labels)) {
    issue.labels = [...new Set(body.labels.map(String))];
    issue.labels.forEach((name) => store.deps.labelId(repository, name));
  }
  if (body.state === "closed" && issue.state === "open") Object.assign(issue, { state: "closed", closedAt: store.deps.now(), stateReason: "completed" });
  else if (body.state === "open" && issue.state === "closed") Object.assign(issue, { state: "open", closedAt: null, stateReason: "reopened" });
  if (body.state_reason !== undefined) issue.stateReason = body.state_reason as StoredIssue["stateReason"];
  return { status: 200, body: issueJson(store, repository, issue) };
}

function commentOn(store: IssueStore, repository: Repository, issueNumber: number, body: Record<string, unknown>): IssueAnswer {
  if (typeof body.body !== "string" || body.body === "") return invalidIssueField("IssueComment", "body", "missing_field");
  const created: StoredComment = { id: store.nextCommentId(), issueNumber, body: body.body, createdAt: store.deps.now() };
  store.commentsOf(repository).push(created);
  return { status: 201, body: commentJson(store, repository, created) };
}

/** The answer to an `issues` request, or null for one the pull request routes answer (a pull request's `PATCH`, labels). */
function routeIssues(store: IssueStore, repository: Repository, rest: string[], call: IssueCall): IssueAnswer | null {
  if (rest[0] !== "issues") return null;
  const number = rest.length >= 2 ? Number(rest[1]) : Number.NaN;
  const issue = store.issuesOf(repository).find((candidate) => candidate.number === number);
  const pull = repository.pulls.find((candidate) => candidate.number === number);
  const missing = issue === undefined && pull === undefined;
  switch (`${call.method} ${rest.length === 1 ? "issues" : rest.length === 2 ? "issues/{n}" : `issues/{n}/${rest[2] ?? ""}`}`) {
    case "GET issues":
      return refusedIssues(call, "read") ?? listIssues(store, repository, call.query);
    case "POST issues":
      return refusedIssues(call, "write") ?? createIssue(store, repository, call.body);
    case "GET issues/{n}":
      if (missing) return issueProblem(404, "Not Found");
      return refusedIssues(call, "read") ?? { status: 200, body: issue === undefined ? store.deps.pullAsIssue(repository, pull as StoredPull) : issueJson(store, repository, issue) };
    case "PATCH issues/{n}":
      if (issue === undefined) return pull === undefined ? issueProblem(404, "Not Found") : null;
      return refusedIssues(call, "write") ?? updateIssue(store, repository, issue, call.body);
    case "POST issues/{n}/comments":
      if (missing) return issueProblem(404, "Not Found");
      return refusedIssues(call, "write") ?? commentOn(store, repository, number, call.body);
  }
  return null;
}

function createIssueTracker(deps: IssueTrackerDeps): GitHubIssueTracker & { route(repository: Repository, rest: string[], call: IssueCall): IssueAnswer | null } {
  const store = createIssueStore(deps);
  return {
    route: (repository, rest, call) => routeIssues(store, repository, rest, call),
    add(fullName, issue) {
      const repository = deps.repositoryOf(fullName);
      const labels = [...(issue.labels ?? [])];
      labels.forEach((name) => deps.labelId(repository, name));
      const state = issue.state ?? "open";
      const number = store.nextNumber(repository);
      store.issuesOf(repository).push({ number, title: issue.title, body: issue.body ?? "", state, stateReason: state === "closed" ? "completed" : null, labels, createdAt: deps.now(), closedAt: state === "closed" ? deps.now() : null });
      return number;
    },
    issues: (fullName) => store.issuesOf(deps.repositoryOf(fullName)),
    comments: (fullName, issueNumber) => store.commentsOf(deps.repositoryOf(fullName)).filter((comment) => comment.issueNumber === issueNumber).map((comment) => comment.body),
  };
}
