import { createHash, createPublicKey, randomBytes, verify as verifySignature } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { StackTls } from "../../../shared/local/tls.js";

/** GitHub's message for a secondary rate limit; Octokit's throttling plugin recognises it by "secondary rate". */
export const SECONDARY_RATE_LIMIT_MESSAGE =
  "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";
export const RATE_LIMIT_LIMIT = 5000;

/** A file of a repository as stored: text, bytes, a symlink (target), or a submodule (commit SHA). */
export type TreeFile = string | { readonly bytes: Buffer } | { readonly symlink: string } | { readonly submodule: string };

/** One request the server saw. `path` is decoded per segment (so `heads%2Fx` reads `heads/x`) and keeps its query. */
export interface GitHubRequest {
  readonly method: string;
  readonly path: string;
  /** `bearer` (an App JWT), `token` (an installation token), or null. */
  readonly auth: "bearer" | "token" | null;
  readonly ifNoneMatch: string | null;
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

/** A commit as stored. */
export interface StoredCommit {
  readonly sha: string;
  readonly tree: string;
  readonly parents: readonly string[];
  readonly message: string;
}

/** A queued fault: the next `times` requests of `method` on `path` (decoded, without query) are answered with `status`. */
export interface Fault {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string>>;
  remaining: number;
}

/**
 * A small in-memory GitHub over HTTPS that follows the REST contract `@octokit/rest` 22 and
 * `@octokit/auth-app` 8 use: the App installation token exchange (`POST /app/installations/{id}/access_tokens`
 * with an RS256 JWT checked against the App's public key; API calls then need `token <installation token>`),
 * `GET /repos/{o}/{r}`, `GET /repos/{o}/{r}/commits/{ref}` with `ETag` and `304` on `If-None-Match`, git
 * trees (recursive, truncated past `maxTreeEntries` as GitHub does), blobs (base64), commits and refs
 * (`422 Reference already exists`, `Reference does not exist`, `Update is not a fast forward`), pulls
 * (`Link` pagination, `422 A pull request already exists for owner:branch.`), issue updates and labels,
 * `GET /installation/repositories` (every stored repository: the installation's selection is "all"),
 * `x-ratelimit-*` headers, and queued faults (a secondary rate limit is a 403 with `retry-after`).
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
  /** Archives `owner/name`: listed with `archived: true` (writes to it are not refused). */
  archive(fullName: string): void;
  /** Recursive trees list at most this many entries and say `truncated: true` beyond (default unlimited). */
  maxTreeEntries: number;
  /** The largest `per_page` list routes honour; larger values are capped (default 100, GitHub's cap). */
  maxPerPage: number;
  /** The installation token the server hands out. */
  readonly installationToken: string;
  stop(): Promise<void>;
}

export interface GitHubContractServerOptions {
  readonly tls: Pick<StackTls, "certPath" | "keyPath">;
  readonly appId: number;
  /** The App's public key (PEM): the JWT signature is checked against it. */
  readonly appPublicKey: string;
  readonly installationId: number;
}

type Entry = { readonly mode: string; readonly type: "blob" | "tree" | "commit"; readonly sha: string };

interface Repository {
  readonly owner: string;
  readonly name: string;
  readonly id: number;
  readonly defaultBranch: string;
  archived: boolean;
  readonly blobs: Map<string, Buffer>;
  readonly trees: Map<string, Map<string, Entry>>;
  readonly commits: Map<string, StoredCommit>;
  readonly refs: Map<string, string>;
  readonly pulls: StoredPull[];
  readonly labels: Map<string, number>;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: unknown[],
  ) {
    super(message);
  }
}

const TREE_MODES = new Set(["100644", "100755", "040000", "160000", "120000"]);

/** Starts the server on a free loopback port with the stack's server certificate. */
export async function startGitHubContractServer(options: GitHubContractServerOptions): Promise<GitHubContractServer> {
  const requests: GitHubRequest[] = [];
  const repositories = new Map<string, Repository>();
  const faults: Fault[] = [];
  const installationToken = `ghs_${randomBytes(18).toString("hex")}`;
  const publicKey = createPublicKey(options.appPublicKey);
  let rateLimitRemaining = RATE_LIMIT_LIMIT;
  const rateLimitReset = Math.floor(Date.now() / 1000) + 3600;
  let url = "";
  let clock = Date.parse("2024-07-22T18:00:00Z");
  const now = (): string => new Date((clock += 1000)).toISOString().replace(/\.\d+Z$/, "Z");

  const repositoryOf = (fullName: string): Repository => {
    const repository = repositories.get(fullName.toLowerCase());
    if (repository === undefined) throw new HttpProblem(404, "Not Found");
    return repository;
  };

  // git objects -------------------------------------------------------------------------------
  const hashObject = (kind: string, content: Buffer): string => createHash("sha1").update(`${kind} ${content.length}\0`).update(content).digest("hex");
  const writeBlob = (repository: Repository, content: Buffer): string => {
    const sha = hashObject("blob", content);
    repository.blobs.set(sha, content);
    return sha;
  };
  const writeTree = (repository: Repository, entries: Map<string, Entry>): string => {
    // git sorts tree entries by name, with trees compared as if their name ended in "/".
    const names = [...entries.keys()].sort((a, b) => {
      const key = (name: string): string => (entries.get(name)?.type === "tree" ? `${name}/` : name);
      return Buffer.compare(Buffer.from(key(a)), Buffer.from(key(b)));
    });
    const content = Buffer.concat(
      names.map((name) => {
        const entry = entries.get(name) as Entry;
        return Buffer.concat([Buffer.from(`${entry.mode === "040000" ? "40000" : entry.mode} ${name}\0`), Buffer.from(entry.sha, "hex")]);
      }),
    );
    const sha = hashObject("tree", content);
    repository.trees.set(sha, new Map(names.map((name) => [name, entries.get(name) as Entry])));
    return sha;
  };
  const writeCommit = (repository: Repository, tree: string, parents: readonly string[], message: string): string => {
    const stamp = `${Math.floor((clock += 1000) / 1000)} +0000`;
    const text = [`tree ${tree}`, ...parents.map((parent) => `parent ${parent}`), `author Ripple <ripple@example.com> ${stamp}`, `committer Ripple <ripple@example.com> ${stamp}`, "", message].join("\n");
    const sha = hashObject("commit", Buffer.from(text));
    repository.commits.set(sha, { sha, tree, parents: [...parents], message });
    return sha;
  };
  /** Every non-tree entry under `treeSha`, by full path (with `trees` also listing the trees, as GitHub's recursive answer). */
  const flatten = (repository: Repository, treeSha: string, withTrees = false, prefix = ""): Map<string, Entry> => {
    const out = new Map<string, Entry>();
    for (const [name, entry] of repository.trees.get(treeSha) ?? []) {
      const path = `${prefix}${name}`;
      if (entry.type === "tree") {
        if (withTrees) out.set(path, entry);
        for (const [child, childEntry] of flatten(repository, entry.sha, withTrees, `${path}/`)) out.set(child, childEntry);
      } else {
        out.set(path, entry);
      }
    }
    return out;
  };
  /** Builds nested trees from a flat path → entry map; returns the root tree SHA. */
  const buildTree = (repository: Repository, flat: Map<string, Entry>): string => {
    const direct = new Map<string, Entry>();
    const children = new Map<string, Map<string, Entry>>();
    for (const [path, entry] of flat) {
      const slash = path.indexOf("/");
      if (slash === -1) {
        direct.set(path, entry);
        continue;
      }
      const head = path.slice(0, slash);
      const sub = children.get(head) ?? new Map<string, Entry>();
      sub.set(path.slice(slash + 1), entry);
      children.set(head, sub);
    }
    for (const [name, sub] of children) direct.set(name, { mode: "040000", type: "tree", sha: buildTree(repository, sub) });
    return writeTree(repository, direct);
  };
  const entryOf = (repository: Repository, file: TreeFile): Entry => {
    if (typeof file === "string") return { mode: "100644", type: "blob", sha: writeBlob(repository, Buffer.from(file)) };
    if ("bytes" in file) return { mode: "100644", type: "blob", sha: writeBlob(repository, file.bytes) };
    if ("symlink" in file) return { mode: "120000", type: "blob", sha: writeBlob(repository, Buffer.from(file.symlink)) };
    return { mode: "160000", type: "commit", sha: file.submodule };
  };
  /** A commit SHA, tree SHA or branch name as a tree SHA (GitHub peels commits for `base_tree` and tree reads). */
  const resolveTree = (repository: Repository, name: string): string | undefined => {
    if (repository.trees.has(name)) return name;
    const commitSha = repository.commits.has(name) ? name : repository.refs.get(`heads/${name}`);
    return commitSha === undefined ? undefined : repository.commits.get(commitSha)?.tree;
  };
  const isAncestor = (repository: Repository, ancestor: string, sha: string): boolean => {
    const seen = new Set<string>();
    const queue = [sha];
    while (queue.length > 0) {
      const current = queue.shift() as string;
      if (current === ancestor) return true;
      if (seen.has(current)) continue;
      seen.add(current);
      queue.push(...(repository.commits.get(current)?.parents ?? []));
    }
    return false;
  };

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

  const repositoryRoute = (method: string, repository: Repository, rest: string[], query: URLSearchParams, body: Record<string, unknown>, ifNoneMatch: string | null): Answer => {
    const route = `${method} ${rest[0] ?? ""}${rest[0] === "git" ? ` ${rest[1] ?? ""}` : ""}`;
    switch (route) {
      case "GET ":
        return { status: 200, body: repoJson(repository) };
      case "GET commits": {
        const ref = rest.slice(1).join("/");
        const sha = ref === "HEAD" ? repository.refs.get(`heads/${repository.defaultBranch}`) : repository.commits.has(ref) ? ref : repository.refs.get(`heads/${ref}`);
        const commit = sha === undefined ? undefined : repository.commits.get(sha);
        if (commit === undefined) throw new HttpProblem(422, `No commit found for SHA: ${ref}`);
        const json = commitJson(repository, commit);
        const etag = `W/"${createHash("sha256").update(JSON.stringify(json)).digest("hex")}"`;
        if (ifNoneMatch !== null && ifNoneMatch.split(/\s*,\s*/).includes(etag)) return { status: 304, headers: { etag } };
        return { status: 200, body: json, headers: { etag } };
      }
      case "GET git trees": {
        const treeSha = resolveTree(repository, rest.slice(2).join("/"));
        if (treeSha === undefined) throw new HttpProblem(404, "Not Found");
        const recursive = query.has("recursive") && !["0", "false", ""].includes(query.get("recursive") ?? "");
        const entries = recursive ? flatten(repository, treeSha, true) : (repository.trees.get(treeSha) ?? new Map<string, Entry>());
        const listed = [...entries].map(([path, entry]) => treeEntryJson(repository, path, entry));
        const truncated = listed.length > server.maxTreeEntries;
        return { status: 200, body: { sha: treeSha, url: apiUrl(repository, `/git/trees/${treeSha}`), tree: listed.slice(0, server.maxTreeEntries), truncated } };
      }
      case "GET git blobs": {
        const sha = rest[2] ?? "";
        const content = repository.blobs.get(sha);
        if (content === undefined) throw new HttpProblem(404, "Not Found");
        const base64 = content.toString("base64").replace(/.{60}/g, "$&\n");
        return { status: 200, body: { sha, node_id: `B_${sha}`, size: content.length, url: apiUrl(repository, `/git/blobs/${sha}`), content: base64, encoding: "base64" } };
      }
      case "POST git trees":
        return { status: 201, body: createTree(repository, body) };
      case "POST git commits": {
        const tree = typeof body.tree === "string" ? body.tree : "";
        const parents = Array.isArray(body.parents) ? body.parents.map(String) : [];
        if (typeof body.message !== "string") throw new HttpProblem(422, "Invalid request.\n\n\"message\" wasn't supplied.");
        if (!repository.trees.has(tree)) throw new HttpProblem(422, "Tree SHA does not exist");
        if (parents.some((parent) => !repository.commits.has(parent))) throw new HttpProblem(422, "Parent SHA does not exist or is not a commit object");
        const sha = writeCommit(repository, tree, parents, body.message);
        const { commit: details, ...rest2 } = commitJson(repository, repository.commits.get(sha) as StoredCommit) as { commit: Record<string, unknown> };
        return { status: 201, body: { sha, tree: details.tree, parents: (rest2 as { parents: unknown }).parents, message: body.message, author: details.author, committer: details.committer, html_url: (rest2 as { html_url: unknown }).html_url } };
      }
      case "GET git ref": {
        const ref = rest.slice(2).join("/");
        const sha = repository.refs.get(ref);
        if (sha === undefined) throw new HttpProblem(404, "Not Found");
        return { status: 200, body: refJson(repository, ref, sha) };
      }
      case "POST git refs": {
        const ref = typeof body.ref === "string" ? body.ref : "";
        const sha = typeof body.sha === "string" ? body.sha : "";
        if (!/^refs\/[^/]+\/.+/.test(ref)) throw new HttpProblem(422, "ref must start with 'refs' and have at least two slashes.");
        if (!repository.commits.has(sha)) throw new HttpProblem(422, "Object does not exist");
        const name = ref.slice("refs/".length);
        if (repository.refs.has(name)) throw new HttpProblem(422, "Reference already exists");
        repository.refs.set(name, sha);
        return { status: 201, body: refJson(repository, name, sha) };
      }
      case "PATCH git refs": {
        const ref = rest.slice(2).join("/");
        const sha = typeof body.sha === "string" ? body.sha : "";
        const current = repository.refs.get(ref);
        if (current === undefined) throw new HttpProblem(422, "Reference does not exist");
        if (!repository.commits.has(sha)) throw new HttpProblem(422, "Object does not exist");
        if (body.force !== true && !isAncestor(repository, current, sha)) throw new HttpProblem(422, "Update is not a fast forward");
        repository.refs.set(ref, sha);
        return { status: 200, body: refJson(repository, ref, sha) };
      }
      case "GET pulls": {
        if (rest.length === 2) return { status: 200, body: pullJson(repository, pullOf(repository, rest[1])) };
        return listPulls(repository, query);
      }
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

  const refJson = (repository: Repository, ref: string, sha: string): Record<string, unknown> => ({
    ref: `refs/${ref}`,
    node_id: `REF_${ref}`,
    url: apiUrl(repository, `/git/refs/${ref}`),
    object: { sha, type: "commit", url: apiUrl(repository, `/git/commits/${sha}`) },
  });

  const createTree = (repository: Repository, body: Record<string, unknown>): Record<string, unknown> => {
    const flat = new Map<string, Entry>();
    if (body.base_tree !== undefined) {
      const base = resolveTree(repository, String(body.base_tree));
      if (base === undefined) throw new HttpProblem(422, "Invalid request.\n\nbase_tree is not a valid tree");
      for (const [path, entry] of flatten(repository, base)) flat.set(path, entry);
    }
    const entries = Array.isArray(body.tree) ? (body.tree as Array<Record<string, unknown>>) : [];
    if (entries.length === 0) throw new HttpProblem(422, "Invalid request.\n\n\"tree\" wasn't supplied.");
    for (const item of entries) {
      const path = typeof item.path === "string" ? item.path : "";
      const mode = typeof item.mode === "string" ? item.mode : "";
      const type = item.type;
      if (path === "" || path.startsWith("/") || path.split("/").some((segment) => segment === "" || segment === "." || segment === "..")) {
        throw new HttpProblem(422, `tree.path contains a malformed path component`);
      }
      if (!TREE_MODES.has(mode) || (type !== "blob" && type !== "tree" && type !== "commit")) throw new HttpProblem(422, "Invalid request.\n\nInvalid tree entry mode or type.");
      if ((item.content === undefined) === (item.sha === undefined)) throw new HttpProblem(422, "Invalid request.\n\nEither \"content\" or \"sha\" must be supplied, not both.");
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

  const route = (method: string, segments: string[], query: URLSearchParams, body: unknown, authorization: string, ifNoneMatch: string | null): Answer => {
    if (method === "POST" && segments[0] === "app" && segments[1] === "installations" && segments[3] === "access_tokens" && segments.length === 4) {
      if (!/^bearer\s/i.test(authorization) || !checkJwt(authorization)) throw new HttpProblem(401, "A JSON web token could not be decoded");
      if (segments[2] !== String(options.installationId)) throw new HttpProblem(404, "Not Found");
      return {
        status: 201,
        body: {
          token: installationToken,
          expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
          permissions: { contents: "write", pull_requests: "write", issues: "write", metadata: "read" },
          repository_selection: "all",
        },
      };
    }
    if (authorization !== `token ${installationToken}`) throw new HttpProblem(401, "Bad credentials");
    if (method === "GET" && segments.length === 2 && segments[0] === "installation" && segments[1] === "repositories") return listInstallationRepositories(query);
    if (segments[0] !== "repos" || segments.length < 3) throw new HttpProblem(404, "Not Found");
    const repository = repositoryOf(`${segments[1]}/${segments[2]}`);
    const payload = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    return repositoryRoute(method, repository, segments.slice(3), query, payload, ifNoneMatch);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestUrl = new URL(req.url ?? "/", url);
    const segments = requestUrl.pathname.split("/").slice(1).filter((segment, index, all) => segment !== "" || index < all.length - 1).map((segment) => decodeURIComponent(segment));
    const text = await readBody(req);
    const body = text === "" ? null : (JSON.parse(text) as unknown);
    const method = req.method ?? "GET";
    const authorization = req.headers.authorization ?? "";
    const ifNoneMatch = typeof req.headers["if-none-match"] === "string" ? req.headers["if-none-match"] : null;
    const path = `/${segments.join("/")}`;
    const at = performance.now();
    const record = (status: number): void => {
      requests.push({ method, path: `${path}${requestUrl.search}`, auth: /^bearer\s/i.test(authorization) ? "bearer" : /^token\s/i.test(authorization) ? "token" : null, ifNoneMatch, body, at, status });
    };

    let answer: Answer;
    const fault = faults.find((candidate) => candidate.method === method && candidate.path === path && candidate.remaining > 0);
    if (fault !== undefined) {
      fault.remaining -= 1;
      answer = { status: fault.status, body: { message: fault.message, documentation_url: "https://docs.github.com/rest" }, headers: { ...fault.headers } };
    } else {
      try {
        answer = route(method, segments, requestUrl.searchParams, body, authorization, ifNoneMatch);
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error;
        answer = {
          status: error.status,
          body: { message: error.message, ...(error.errors === undefined ? {} : { errors: error.errors }), documentation_url: "https://docs.github.com/rest", status: String(error.status) },
        };
      }
    }
    const isApi = !path.startsWith("/app/");
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
    record(answer.status);
    const headers = { "x-github-api-version-selected": "2022-11-28", ...rateHeaders, ...(answer.headers ?? {}) };
    if (answer.status === 304 || answer.body === undefined) {
      res.writeHead(answer.status, headers);
      res.end();
      return;
    }
    const json = JSON.stringify(answer.body);
    res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(json)), ...headers });
    res.end(json);
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
    installationToken,
    maxTreeEntries: Number.POSITIVE_INFINITY,
    maxPerPage: 100,
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
      const sha = writeCommit(repository, buildTree(repository, flat), [], "Initial commit");
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
      const sha = writeCommit(repository, buildTree(repository, flat), parent === undefined ? [] : [parent], message);
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
      faults.push({ method, path, status, remaining: times, message: faultOptions.message ?? "Injected fault", headers: faultOptions.headers ?? {} });
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
