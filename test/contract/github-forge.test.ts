import { useContractTls } from "./helpers/contract-tls.js";
import { createHmac, generateKeyPairSync } from "node:crypto";
import { Agent } from "node:https";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGitHubOctokit, type GitHubOctokit, type GitHubOctokitOptions } from "../../shared/adapters/github/github-client.js";
import { createGitHubForge, listInstallationRepositories, readInstallationPermissions } from "../../shared/adapters/github/github-forge.js";
import { verifyGitHubWebhook } from "../../shared/adapters/github/verify-webhook.js";
import { AppError, ConfigError } from "../../shared/errors.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { ChangeRequest, PullRequest } from "../../shared/ports/forge.js";
import { RATE_LIMIT_LIMIT, SECONDARY_RATE_LIMIT_MESSAGE, startGitHubContractServer, type GitHubContractServer, type GitHubRequest } from "./helpers/github-contract-server.js";

const SHA_MEDIA_TYPE = "application/vnd.github.sha";
const WORKFLOWS_REASON = "needs the GitHub App's workflows permission";

const APP_ID = 424242;
const INSTALLATION_ID = 7001;
const REPO = "contoso/shop";
const BRANCH = "ripple/docker.io-library-alpine-3.20";
const MIB = 1024 * 1024;
const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});

const DOCKERFILE = "FROM docker.io/library/alpine:3.20@sha256:" + "1".repeat(64) + "\nRUN apk add curl\n";
const PATCHED = DOCKERFILE.replace("1".repeat(64), "2".repeat(64));
const COMPOSE = "services:\n  web:\n    image: docker.io/library/nginx:1.27\n";

let tls: StackTls;
let agent: Agent;
let server: GitHubContractServer;
let octokit: GitHubOctokit;

function client(overrides: Partial<GitHubOctokitOptions> = {}): GitHubOctokit {
  return createGitHubOctokit({ appId: APP_ID, privateKey, installationId: INSTALLATION_ID, baseUrl: server.url, agent, ...overrides });
}

/** API requests (installation token), as `METHOD path`, in arrival order. */
function apiCalls(from = 0, to = server.requests.length): string[] {
  return server.requests.slice(from, to).filter((request) => request.auth === "token").map((request) => `${request.method} ${request.path}`);
}

function lastRequests(count: number): GitHubRequest[] {
  return server.requests.slice(-count);
}

function changeRequest(overrides: Partial<ChangeRequest> = {}): ChangeRequest {
  return {
    repository: REPO,
    branch: BRANCH,
    title: "Pin alpine 3.20 to sha256:2222",
    body: "Ripple rebuilt alpine:3.20.",
    labels: [],
    files: [{ path: "services/api/Dockerfile", text: PATCHED }],
    baseSha: server.branchHead(REPO, "main") ?? "",
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<{ name: string; code: string; message: string; retryable: boolean; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    if (server.installationToken !== "") expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(server.installationToken);
    return { name: error.name, code: error.code, message: error.message, retryable: error.retryable, details: error.details };
  }
  throw new Error("expected a rejection");
}

useContractTls("ripple-github-contract-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  server = await startGitHubContractServer({ tls, appId: APP_ID, appPublicKey: publicKey, installationId: INSTALLATION_ID });
  server.addRepository(REPO, { "services/api/Dockerfile": DOCKERFILE, "README.md": "# shop\n" });
  octokit = client();
});

afterEach(async () => {
  await server.stop();
});

describe("scan", () => {
  it("reads candidate files at HEAD and skips large, symlinked, binary and submodule entries with a reason", async () => {
    const head = server.push(REPO, "main", {
      "Dockerfile": DOCKERFILE,
      "deploy/compose.yaml": COMPOSE,
      ".github/workflows/ci.yml": "on: push\n",
      "docs/guide.md": "not a candidate\n",
      "charts/huge/values.yaml": "x".repeat(MIB + 1),
      "link/Dockerfile": { symlink: "../Dockerfile" },
      "assets/icon.yaml": { bytes: Buffer.from([0x69, 0x00, 0x01]) },
      "vendor/base-images": { submodule: "3".repeat(40) },
    });
    const forge = createGitHubForge({ octokit });

    const scan = await forge.scan(REPO);

    expect(scan).toEqual({
      repository: REPO,
      revision: head,
      unchanged: false,
      files: [
        { path: ".github/workflows/ci.yml", text: "on: push\n", readOnly: WORKFLOWS_REASON },
        { path: "Dockerfile", text: DOCKERFILE },
        { path: "deploy/compose.yaml", text: COMPOSE },
        { path: "services/api/Dockerfile", text: DOCKERFILE },
      ],
      skipped: [
        { path: "assets/icon.yaml", reason: "binary" },
        { path: "charts/huge/values.yaml", reason: "too large" },
        { path: "link/Dockerfile", reason: "symlink" },
        { path: "vendor/base-images", reason: "submodule" },
      ],
      cursor: head,
      calls: 7,
      rateLimitRemaining: RATE_LIMIT_LIMIT - 7,
    });
    const calls = apiCalls();
    expect(calls.slice(0, 2)).toEqual([`GET /repos/contoso/shop/commits/HEAD`, `GET /repos/contoso/shop/git/trees/${head}?recursive=1`]);
    expect(server.requests.find((request) => request.path === "/repos/contoso/shop/commits/HEAD")?.accept).toBe(SHA_MEDIA_TYPE);
    expect(calls.slice(2).map((call) => call.replace(/[0-9a-f]{40}$/, "<sha>"))).toEqual(Array(5).fill("GET /repos/contoso/shop/git/blobs/<sha>"));
    expect(server.requests.filter((request) => request.auth === "bearer").map((request) => `${request.method} ${request.path}`)).toEqual([
      `POST /app/installations/${INSTALLATION_ID}/access_tokens`,
    ]);
  });

  it.each([
    ["with the same installation token", false],
    ["after the installation token rotated (ETags of JSON answers are tied to the token)", true],
  ])("answers unchanged after exactly one free 304 when HEAD has not moved, %s", async (_case, rotate) => {
    const first = await createGitHubForge({ octokit }).scan(REPO);
    const tokenBefore = server.installationToken;
    const forge = createGitHubForge({ octokit: rotate ? client() : octokit });
    const before = server.requests.length;

    const again = await forge.scan(REPO, { since: first.cursor });

    expect(again).toEqual({
      repository: REPO,
      revision: first.revision,
      unchanged: true,
      files: [],
      skipped: [],
      cursor: first.cursor,
      calls: 1,
      rateLimitRemaining: first.rateLimitRemaining,
    });
    expect(apiCalls(before).length).toBe(1);
    expect(server.requests.filter((request) => request.auth === "token").slice(-1).map(({ method, path, accept, ifNoneMatch, status }) => ({ method, path, accept, ifNoneMatch, status }))).toEqual([
      { method: "GET", path: "/repos/contoso/shop/commits/HEAD", accept: SHA_MEDIA_TYPE, ifNoneMatch: `"${first.revision}"`, status: 304 },
    ]);
    expect(server.installationToken !== tokenBefore).toBe(rotate);
  });

  it("accepts a cursor of the earlier <sha> <ETag> form", async () => {
    const first = await createGitHubForge({ octokit }).scan(REPO);

    const again = await createGitHubForge({ octokit }).scan(REPO, { since: `${first.revision} W/"${"0".repeat(64)}"` });

    expect({ unchanged: again.unchanged, cursor: again.cursor, calls: again.calls }).toEqual({ unchanged: true, cursor: first.revision, calls: 1 });
  });

  it("reads the files again once HEAD moves", async () => {
    const forge = createGitHubForge({ octokit });
    const first = await forge.scan(REPO);
    const head = server.push(REPO, "main", { "services/api/Dockerfile": PATCHED });

    const again = await forge.scan(REPO, { since: first.cursor });

    expect(again).toEqual({
      repository: REPO,
      revision: head,
      unchanged: false,
      files: [{ path: "services/api/Dockerfile", text: PATCHED }],
      skipped: [],
      cursor: head,
      calls: 3,
      rateLimitRemaining: RATE_LIMIT_LIMIT - 6,
    });
  });

  it("reports a truncated tree as skipped", async () => {
    server.maxTreeEntries = 3;
    server.push(REPO, "main", { "a/Dockerfile": DOCKERFILE, "z/Dockerfile": DOCKERFILE });

    const scan = await createGitHubForge({ octokit }).scan(REPO);

    expect({ files: scan.files.map((file) => file.path), skipped: scan.skipped }).toEqual({
      files: ["a/Dockerfile"],
      skipped: [{ path: ".", reason: "tree truncated" }],
    });
  });

  it.each([
    ["a repository that does not exist", "contoso/missing", { status: 404, retryable: false, message: "github: reading the head commit of contoso/missing failed with HTTP 404: Not Found" }],
  ])("maps %s to an UpstreamError", async (_case, repository, expected) => {
    expect(await rejection(createGitHubForge({ octokit }).scan(repository))).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: expected.message,
      retryable: expected.retryable,
      details: { service: "github", status: expected.status },
    });
  });
});

describe("proposeChange", () => {
  function expectedPull(number: number, request: ChangeRequest, headSha: string, labels: string[] = []): PullRequest {
    return {
      repository: REPO,
      branch: request.branch,
      number,
      url: `https://github.com/contoso/shop/pull/${number}`,
      state: "open",
      title: request.title,
      body: request.body,
      labels,
      headSha,
      baseSha: request.baseSha,
    };
  }

  it("opens a new pull request in 7 requests with the exact tree (on the base commit's tree SHA), commit, ref and pull bodies", async () => {
    const request = changeRequest();
    const baseTree = server.commit(REPO, request.baseSha)?.tree;
    const before = server.requests.length;

    const pull = await createGitHubForge({ octokit }).proposeChange(request);

    const headSha = server.branchHead(REPO, BRANCH) ?? "";
    const commit = server.commit(REPO, headSha);
    expect(pull).toEqual(expectedPull(1, request, headSha));
    expect(
      server.requests
        .slice(before)
        .filter((call) => call.auth === "token")
        .map(({ method, path, body, status }) => ({ method, path, body, status })),
    ).toEqual([
      { method: "GET", path: `/repos/contoso/shop/pulls?head=contoso%3A${encodeURIComponent(BRANCH)}&state=all&per_page=100`, body: null, status: 200 },
      { method: "GET", path: "/repos/contoso/shop", body: null, status: 200 },
      { method: "GET", path: `/repos/contoso/shop/git/commits/${request.baseSha}`, body: null, status: 200 },
      {
        method: "POST",
        path: "/repos/contoso/shop/git/trees",
        body: { base_tree: baseTree, tree: [{ path: "services/api/Dockerfile", mode: "100644", type: "blob", content: PATCHED }] },
        status: 201,
      },
      { method: "POST", path: "/repos/contoso/shop/git/commits", body: { message: request.title, tree: commit?.tree, parents: [request.baseSha] }, status: 201 },
      { method: "POST", path: "/repos/contoso/shop/git/refs", body: { ref: `refs/heads/${BRANCH}`, sha: headSha }, status: 201 },
      { method: "POST", path: "/repos/contoso/shop/pulls", body: { head: BRANCH, base: "main", title: request.title, body: request.body }, status: 201 },
    ]);
    expect(commit?.parents).toEqual([request.baseSha]);
    expect(server.filesAt(REPO, headSha)).toEqual({ "README.md": "# shop\n", "services/api/Dockerfile": PATCHED });
  });

  it("adds labels: 8 requests while the default branch and the base commit's tree are unknown, 6 once known", async () => {
    const forge = createGitHubForge({ octokit, labels: ["ripple"] });
    const first = changeRequest({ labels: ["security"] });
    const second = changeRequest({ branch: "ripple/docker.io-library-nginx-1.27", labels: [] });

    const before = server.requests.length;
    const firstPull = await forge.proposeChange(first);
    const between = server.requests.length;
    const secondPull = await forge.proposeChange(second);

    expect([firstPull, secondPull]).toEqual([
      expectedPull(1, first, server.branchHead(REPO, first.branch) ?? "", ["ripple", "security"]),
      expectedPull(2, second, server.branchHead(REPO, second.branch) ?? "", ["ripple"]),
    ]);
    const shape = (calls: string[]): string[] => calls.map((call) => call.replace(/\?.*$/, "?…"));
    expect([shape(apiCalls(before, between)), shape(apiCalls(between))]).toEqual([
      [
        "GET /repos/contoso/shop/pulls?…",
        "GET /repos/contoso/shop",
        `GET /repos/contoso/shop/git/commits/${first.baseSha}`,
        "POST /repos/contoso/shop/git/trees",
        "POST /repos/contoso/shop/git/commits",
        "POST /repos/contoso/shop/git/refs",
        "POST /repos/contoso/shop/pulls",
        "POST /repos/contoso/shop/issues/1/labels",
      ],
      [
        "GET /repos/contoso/shop/pulls?…",
        "POST /repos/contoso/shop/git/trees",
        "POST /repos/contoso/shop/git/commits",
        "POST /repos/contoso/shop/git/refs",
        "POST /repos/contoso/shop/pulls",
        "POST /repos/contoso/shop/issues/2/labels",
      ],
    ]);
    expect(server.requests.find((call) => call.path === "/repos/contoso/shop/issues/1/labels")?.body).toEqual({ labels: ["ripple", "security"] });
  });

  it("opens a labelled pull request in 7 requests when the configuration names the default branch", async () => {
    const forge = createGitHubForge({ octokit, labels: ["ripple"], defaultBranches: new Map([["contoso/shop", "main"]]) });
    const request = changeRequest({ labels: ["security"] });
    const before = server.requests.length;
    const pull = await forge.proposeChange(request);
    expect(pull).toEqual(expectedPull(1, request, server.branchHead(REPO, request.branch) ?? "", ["ripple", "security"]));
    expect(apiCalls(before).map((call) => call.replace(/\?.*$/, "?…"))).toEqual([
      "GET /repos/contoso/shop/pulls?…",
      `GET /repos/contoso/shop/git/commits/${request.baseSha}`,
      "POST /repos/contoso/shop/git/trees",
      "POST /repos/contoso/shop/git/commits",
      "POST /repos/contoso/shop/git/refs",
      "POST /repos/contoso/shop/pulls",
      "POST /repos/contoso/shop/issues/1/labels",
    ]);
  });

  it("updates the open pull request in place in 5 requests: branch moved, title and body replaced, no second pull request", async () => {
    const forge = createGitHubForge({ octokit });
    const opened = await forge.proposeChange(changeRequest());
    const newer = "FROM docker.io/library/alpine:3.20@sha256:" + "4".repeat(64) + "\nRUN apk add curl\n";
    const request = changeRequest({ title: "Pin alpine 3.20 to sha256:4444", body: "Rebuilt again.", files: [{ path: "services/api/Dockerfile", text: newer }] });
    const before = server.requests.length;

    const updated = await forge.proposeChange(request);

    const headSha = server.branchHead(REPO, BRANCH) ?? "";
    expect(headSha).not.toBe(opened.headSha);
    expect(updated).toEqual(expectedPull(1, request, headSha));
    expect(lastRequests(server.requests.length - before).map(({ method, path, body }) => ({ method, path: path.replace(/\?.*$/, ""), body }))).toEqual([
      { method: "GET", path: "/repos/contoso/shop/pulls", body: null },
      { method: "POST", path: "/repos/contoso/shop/git/trees", body: { base_tree: server.commit(REPO, request.baseSha)?.tree, tree: [{ path: "services/api/Dockerfile", mode: "100644", type: "blob", content: newer }] } },
      { method: "POST", path: "/repos/contoso/shop/git/commits", body: { message: request.title, tree: server.commit(REPO, headSha)?.tree, parents: [request.baseSha] } },
      { method: "PATCH", path: `/repos/contoso/shop/git/refs/heads/${BRANCH}`, body: { sha: headSha, force: true } },
      { method: "PATCH", path: "/repos/contoso/shop/pulls/1", body: { title: request.title, body: request.body } },
    ]);
    expect(server.pulls(REPO).map(({ number, state, title, body }) => ({ number, state, title, body }))).toEqual([{ number: 1, state: "open", title: request.title, body: request.body }]);
    expect(server.filesAt(REPO, headSha)["services/api/Dockerfile"]).toBe(newer);
  });

  it("spends 4 requests when the open pull request already has the title, body and labels", async () => {
    const forge = createGitHubForge({ octokit, labels: ["ripple"] });
    await forge.proposeChange(changeRequest());
    const before = server.requests.length;

    await forge.proposeChange(changeRequest());

    expect(apiCalls(before).map((call) => call.replace(/\?.*$/, ""))).toEqual([
      "GET /repos/contoso/shop/pulls",
      "POST /repos/contoso/shop/git/trees",
      "POST /repos/contoso/shop/git/commits",
      `PATCH /repos/contoso/shop/git/refs/heads/${BRANCH}`,
    ]);
  });

  it("sets missing labels on an open pull request with its title and body in one request, keeping labels people added", async () => {
    const number = server.addPullRequest(REPO, { head: BRANCH, title: "old", labels: ["needs-review"] });
    const request = changeRequest();
    const before = server.requests.length;

    const pull = await createGitHubForge({ octokit, labels: ["ripple"] }).proposeChange(request);

    expect(pull).toEqual({ ...expectedPull(number, request, server.branchHead(REPO, BRANCH) ?? ""), labels: ["needs-review", "ripple"] });
    expect(lastRequests(server.requests.length - before).at(-1)).toMatchObject({
      method: "PATCH",
      path: `/repos/contoso/shop/issues/${number}`,
      body: { title: request.title, body: request.body, labels: ["needs-review", "ripple"] },
    });
    expect(apiCalls(before)).toHaveLength(6);
  });

  it("never opens a second pull request when two proposeChange calls race (422 paths)", async () => {
    const forge = createGitHubForge({ octokit });
    const request = changeRequest();

    const pulls = await Promise.all([forge.proposeChange(request), forge.proposeChange(request)]);

    expect(pulls.map((pull) => pull.number)).toEqual([1, 1]);
    expect(server.pulls(REPO)).toHaveLength(1);
    expect(server.requests.filter((call) => call.status === 422).map(({ method, path }) => `${method} ${path}`)).toEqual([
      "POST /repos/contoso/shop/git/refs",
      "POST /repos/contoso/shop/pulls",
    ]);
  });

  it("moves a branch left behind by a closed pull request and opens a new one", async () => {
    server.addPullRequest(REPO, { head: BRANCH, title: "old", state: "closed" });
    const request = changeRequest();

    const pull = await createGitHubForge({ octokit }).proposeChange(request);

    expect(pull).toEqual(expectedPull(2, request, server.branchHead(REPO, BRANCH) ?? ""));
    expect(server.requests.filter((call) => call.status === 422).map(({ method, path }) => `${method} ${path}`)).toEqual(["POST /repos/contoso/shop/git/refs"]);
  });

  it.each([403, 429] as const)("waits out a secondary rate limit (%s) for its retry-after, then succeeds", async (status) => {
    server.limitSecondary("POST", "/repos/contoso/shop/git/trees", { status, retryAfterSeconds: 1, times: 1 });

    const pull = await createGitHubForge({ octokit }).proposeChange(changeRequest());

    const trees = server.requests.filter((call) => call.path === "/repos/contoso/shop/git/trees");
    expect({ number: pull.number, statuses: trees.map((call) => call.status) }).toEqual({ number: 1, statuses: [status, 201] });
    expect((trees[1]?.at ?? 0) - (trees[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it("gives up after a bounded number of secondary-limit retries, each after retry-after, and fails retryable", async () => {
    server.limitSecondary("POST", "/repos/contoso/shop/git/trees", { status: 403, retryAfterSeconds: 1, times: Number.POSITIVE_INFINITY });

    const failure = await rejection(createGitHubForge({ octokit: client({ rateLimitRetries: 2 }) }).proposeChange(changeRequest()));

    const trees = server.requests.filter((call) => call.path === "/repos/contoso/shop/git/trees");
    expect({ failure, attempts: trees.length }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: `github: writing the tree of ${REPO}:${BRANCH} failed with HTTP 403: ${SECONDARY_RATE_LIMIT_MESSAGE}`,
        retryable: true,
        details: { service: "github", status: 403, retryAfterMs: 1000 },
      },
      attempts: 3,
    });
    const gaps = trees.slice(1).map((call, index) => call.at - (trees[index]?.at ?? 0));
    expect(gaps.every((gap) => gap >= 1000)).toBe(true);
  });

  it.each([
    ["a 429 without rate-limit headers (left to the caller, a minute later: one request)", 429, 1, true, { retryAfterMs: 60_000 }],
    ["a 502 (retried once by the retry plugin)", 502, 2, true, {}],
    ["a 404", 404, 1, false, {}],
  ])("maps %s to an UpstreamError", async (_case, status, attempts, retryable, details) => {
    server.fail("GET", "/repos/contoso/shop/commits/HEAD", status, Number.POSITIVE_INFINITY, { message: "Injected" });

    const failure = await rejection(createGitHubForge({ octokit: client({ retries: 1 }) }).scan(REPO));

    expect({ failure, attempts: apiCalls().length }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: `github: reading the head commit of ${REPO} failed with HTTP ${status}: Injected`,
        retryable,
        details: { service: "github", status, ...details },
      },
      attempts,
    });
  });

  it.each([
    ["a path with ..", { files: [{ path: "../etc/Dockerfile", text: "x" }] }, [{ path: "files.0.path", message: "must be relative, without . or .. segments" }]],
    ["no files", { files: [] }, [{ path: "files", message: "no files to commit" }]],
    ["a short base SHA", { baseSha: "abc123" }, [{ path: "baseSha", message: "not a full commit SHA" }]],
    ["a bad branch", { branch: "ripple/a..b" }, [{ path: "branch", message: "not a valid branch name" }]],
  ])("rejects %s before any request", async (_case, overrides, issues) => {
    const failure = await rejection(createGitHubForge({ octokit }).proposeChange(changeRequest(overrides as Partial<ChangeRequest>)));

    expect({ failure, calls: apiCalls() }).toEqual({
      failure: { name: "ValidationError", code: "validation_failed", message: `invalid change request for ${REPO}`, retryable: false, details: { issues } },
      calls: [],
    });
  });
});

describe("rate limits", () => {
  const HEAD = "/repos/contoso/shop/commits/HEAD";

  it.each([403, 429] as const)("waits out a spent primary rate limit (%s) that resets within the wait limit, then succeeds", async (status) => {
    // Two seconds: `x-ratelimit-reset` is a whole second, so a reset "in 1 s" can be only milliseconds away
    // and pass before the first request arrives.
    server.exhaustRateLimit({ status, resetInSeconds: 2 });

    const scan = await createGitHubForge({ octokit }).scan(REPO);

    const heads = server.requests.filter((call) => call.path === HEAD);
    expect({ unchanged: scan.unchanged, statuses: heads.map((call) => call.status) }).toEqual({ unchanged: false, statuses: [status, 200] });
    expect((heads[1]?.at ?? 0) - (heads[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it.each([
    ["a spent primary rate limit (403) resetting in an hour", (): void => server.exhaustRateLimit({ status: 403, resetInSeconds: 3600 }), 403, 3_600_000],
    ["a spent primary rate limit (429) resetting in an hour", (): void => server.exhaustRateLimit({ status: 429, resetInSeconds: 3600 }), 429, 3_600_000],
    ["a secondary rate limit (429) with a retry-after of 30 s", (): void => server.limitSecondary("GET", HEAD, { status: 429, retryAfterSeconds: 30, times: 1 }), 429, 30_000],
    ["a secondary rate limit (403) without retry-after (at least a minute)", (): void => server.limitSecondary("GET", HEAD, { status: 403, times: 1 }), 403, 60_000],
  ])("hands %s back at once: one request, retryable, with retryAfterMs", async (_case, limit, status, wait) => {
    limit();
    const started = performance.now();

    const failure = await rejection(createGitHubForge({ octokit }).scan(REPO));

    const { retryAfterMs, ...details } = failure.details;
    expect({ retryable: failure.retryable, details, calls: apiCalls() }).toEqual({ retryable: true, details: { service: "github", status }, calls: [`GET ${HEAD}`] });
    // The primary wait runs to `x-ratelimit-reset` (whole seconds) plus one second, as Octokit's throttling plugin counts it.
    expect(retryAfterMs).toBeGreaterThan(wait - 2000);
    expect(retryAfterMs).toBeLessThanOrEqual(wait + 1000);
    expect(performance.now() - started).toBeLessThan(2000);
  }, 10_000);

  it("waits only as long as maxRateLimitWaitSeconds allows", async () => {
    server.limitSecondary("GET", HEAD, { status: 429, retryAfterSeconds: 2, times: 1 });

    const failure = await rejection(createGitHubForge({ octokit: client({ maxRateLimitWaitSeconds: 1 }) }).scan(REPO));

    expect({ retryable: failure.retryable, details: failure.details, calls: apiCalls().length }).toEqual({ retryable: true, details: { service: "github", status: 429, retryAfterMs: 2000 }, calls: 1 });
  });
});

describe("workflow files", () => {
  const WORKFLOW = "name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    container: docker.io/library/alpine:3.20@sha256:" + "1".repeat(64) + "\n";
  const workflowChange = (): ChangeRequest => changeRequest({ files: [{ path: ".github/workflows/ci.yml", text: WORKFLOW.replace("1".repeat(64), "2".repeat(64)) }, { path: "services/api/Dockerfile", text: PATCHED }] });

  beforeEach(() => {
    server.push(REPO, "main", { ".github/workflows/ci.yml": WORKFLOW });
  });

  it("scans workflow files as read-only, with the reason, when the installation lacks workflows: write", async () => {
    const scan = await createGitHubForge({ octokit }).scan(REPO);

    expect(scan.files.map(({ path, readOnly }) => ({ path, readOnly }))).toEqual([
      { path: ".github/workflows/ci.yml", readOnly: WORKFLOWS_REASON },
      { path: "services/api/Dockerfile", readOnly: undefined },
    ]);
  });

  it("refuses a change to a workflow file before any request when the installation lacks workflows: write", async () => {
    const failure = await rejection(createGitHubForge({ octokit }).proposeChange(workflowChange()));

    expect({ failure, calls: apiCalls() }).toEqual({
      failure: {
        name: "ValidationError",
        code: "validation_failed",
        message: `cannot change .github/workflows/ci.yml in ${REPO}: ${WORKFLOWS_REASON}`,
        retryable: false,
        details: { issues: [{ path: "files.0.path", message: WORKFLOWS_REASON }] },
      },
      calls: [],
    });
  });

  it("scans and commits workflow files when the installation has workflows: write", async () => {
    server.permissions = { ...server.permissions, workflows: "write" };
    const forge = createGitHubForge({ octokit: client() });
    const request = workflowChange();

    const scan = await forge.scan(REPO);
    const pull = await forge.proposeChange({ ...request, baseSha: scan.revision });

    expect(scan.files.every((file) => file.readOnly === undefined)).toBe(true);
    expect(server.filesAt(REPO, pull.headSha)[".github/workflows/ci.yml"]).toBe(request.files[0]?.text);
  });
});

describe("findPullRequest", () => {
  it.each([
    ["open", "open"],
    ["closed", "closed"],
    ["merged", "merged"],
  ] as const)("reports a %s pull request as %s in one request", async (state, expected) => {
    const number = server.addPullRequest(REPO, { head: BRANCH, title: "Pin alpine", body: "body", state, labels: ["ripple"] });
    const before = server.requests.length;

    const pull = await createGitHubForge({ octokit }).findPullRequest(REPO, BRANCH);

    expect(pull).toEqual({
      repository: REPO,
      branch: BRANCH,
      number,
      url: `https://github.com/contoso/shop/pull/${number}`,
      state: expected,
      title: "Pin alpine",
      body: "body",
      labels: ["ripple"],
      headSha: server.branchHead(REPO, BRANCH),
      baseSha: server.branchHead(REPO, "main"),
    });
    expect(apiCalls(before)).toEqual([`GET /repos/contoso/shop/pulls?head=contoso%3A${encodeURIComponent(BRANCH)}&state=all&per_page=100`]);
  });

  it("returns the newest pull request of the branch, or null when there is none", async () => {
    server.addPullRequest(REPO, { head: BRANCH, title: "first", state: "merged" });
    server.addPullRequest(REPO, { head: "other", title: "unrelated" });
    server.addPullRequest(REPO, { head: BRANCH, title: "second", state: "closed" });
    const forge = createGitHubForge({ octokit });

    const found = await Promise.all([forge.findPullRequest(REPO, BRANCH), forge.findPullRequest(REPO, "ripple/none")]);

    expect(found.map((pull) => (pull === null ? null : { number: pull.number, state: pull.state, title: pull.title }))).toEqual([{ number: 3, state: "closed", title: "second" }, null]);
  });
});

describe("contract server", () => {
  it("pages pulls.list with Link headers", async () => {
    for (const title of ["a", "b", "c"]) server.addPullRequest(REPO, { head: `ripple/${title}`, title });

    const pulls = await octokit.paginate(octokit.rest.pulls.list, { owner: "contoso", repo: "shop", state: "all", per_page: 2 });

    expect({ numbers: pulls.map((pull) => pull.number), calls: apiCalls() }).toEqual({
      numbers: [3, 2, 1],
      calls: ["GET /repos/contoso/shop/pulls?state=all&per_page=2", "GET /repos/contoso/shop/pulls?state=all&per_page=2&page=2"],
    });
  });

  it("refuses a commit SHA as base_tree, as GitHub does, and takes the commit's tree SHA", async () => {
    const head = server.branchHead(REPO, "main") ?? "";
    const tree = [{ path: "x/Dockerfile", mode: "100644" as const, type: "blob" as const, content: DOCKERFILE }];

    const refused = await octokit.rest.git.createTree({ owner: "contoso", repo: "shop", base_tree: head, tree }).catch((error: { status: number; response: { data: unknown } }) => error);
    const created = await octokit.rest.git.createTree({ owner: "contoso", repo: "shop", base_tree: server.commit(REPO, head)?.tree ?? "", tree });

    expect({ status: (refused as { status: number }).status, data: (refused as { response: { data: unknown } }).response.data }).toEqual({
      status: 422,
      data: { message: "base_tree is not a valid tree oid", documentation_url: "https://docs.github.com/rest/git/trees#create-a-tree", status: "422" },
    });
    expect(created.status).toBe(201);
  });

  it("answers 404 to a tree that changes a workflow file when the token lacks workflows: write", async () => {
    const base_tree = server.commit(REPO, server.branchHead(REPO, "main") ?? "")?.tree ?? "";
    const tree = [{ path: ".github/workflows/ci.yml", mode: "100644" as const, type: "blob" as const, content: "on: push\n" }];

    const refused = await octokit.rest.git.createTree({ owner: "contoso", repo: "shop", base_tree, tree }).catch((error: { status: number }) => error);
    server.permissions = { ...server.permissions, workflows: "write" };
    const allowed = await client().rest.git.createTree({ owner: "contoso", repo: "shop", base_tree, tree });

    expect({ refused: (refused as { status: number }).status, allowed: allowed.status }).toEqual({ refused: 404, allowed: 201 });
  });

  it("answers the head SHA as text for Accept: application/vnd.github.sha, with the SHA as its ETag", async () => {
    const head = server.branchHead(REPO, "main") ?? "";

    const response = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}", { owner: "contoso", repo: "shop", ref: "HEAD", headers: { accept: SHA_MEDIA_TYPE } });

    expect({ data: response.data, etag: response.headers.etag }).toEqual({ data: head, etag: `"${head}"` });
  });

  it("refuses an installation token request signed with another key", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });

    const failure = await rejection(createGitHubForge({ octokit: client({ privateKey: other.privateKey }) }).scan(REPO));

    expect(failure).toMatchObject({ name: "UpstreamError", retryable: false, details: { service: "github", status: 401 } });
    expect(server.requests.map(({ method, path, auth, status }) => ({ method, path, auth, status }))).toEqual([
      { method: "POST", path: `/app/installations/${INSTALLATION_ID}/access_tokens`, auth: "bearer", status: 401 },
    ]);
  });
});

describe("createGitHubOctokit", () => {
  it("refuses both an agent and a fetch", () => {
    expect(() => client({ fetch })).toThrow(ConfigError);
  });

  it("logs the request log's line for a 304 (an unchanged rescan) as info, and real failures as errors", async () => {
    const lines: Record<"info" | "error", string[]> = { info: [], error: [] };
    const log = { debug: () => undefined, warn: () => undefined, info: (line: string) => lines.info.push(line), error: (line: string) => lines.error.push(line) };
    const forge = createGitHubForge({ octokit: client({ log }) });
    const first = await forge.scan(REPO);

    await forge.scan(REPO, { since: first.cursor });
    await forge.scan("contoso/missing").catch(() => undefined);

    const shape = (line: string): string => line.replace(/ with id .*$/, "");
    expect({ info: lines.info.map(shape).filter((line) => line.includes("commits/HEAD")), error: lines.error.map(shape) }).toEqual({
      info: ["GET /repos/contoso/shop/commits/HEAD - 200", "GET /repos/contoso/shop/commits/HEAD - 304"],
      error: ["GET /repos/contoso/missing/commits/HEAD - 404"],
    });
  });
});

describe("verifyGitHubWebhook", () => {
  const secret = "webhook-secret";
  const payload = JSON.stringify({ action: "opened", number: 1 });
  const signature = `sha256=${createHmac("sha256", secret).update(payload).digest("hex")}`;

  it.each([
    ["the right signature", { secret, payload, signature }, true],
    ["a tampered payload", { secret, payload: payload.replace("1", "2"), signature }, false],
    ["another secret", { secret: "other", payload, signature }, false],
    ["a missing signature", { secret, payload, signature: undefined }, false],
    ["an empty payload", { secret, payload: "", signature }, false],
    ["a SHA-1 signature", { secret, payload, signature: `sha1=${createHmac("sha1", secret).update(payload).digest("hex")}` }, false],
    ["a truncated signature", { secret, payload, signature: signature.slice(0, -2) }, false],
  ])("answers %s with %s", async (_case, delivery, expected) => {
    expect(await verifyGitHubWebhook(delivery)).toBe(expected);
  });

  it("throws ConfigError for an empty secret", async () => {
    await expect(verifyGitHubWebhook({ secret: "", payload, signature })).rejects.toThrow(ConfigError);
  });
});

describe("readInstallationPermissions", () => {
  it("reads the permissions GitHub granted with the installation token, without a request of its own once a token exists", async () => {
    server.permissions = { metadata: "read", contents: "write", pull_requests: "write", workflows: "write" };
    const first = await readInstallationPermissions(octokit);
    const requests = server.requests.length;
    expect({ first, again: await readInstallationPermissions(octokit), newRequests: server.requests.length - requests }).toEqual({
      first: { metadata: "read", contents: "write", pull_requests: "write", workflows: "write" },
      again: { metadata: "read", contents: "write", pull_requests: "write", workflows: "write" },
      newRequests: 0,
    });
  });
});

describe("listInstallationRepositories", () => {
  /** Adds `fullName` (one README) with `defaultBranch`, archived when asked. */
  function seed(repositories: ReadonlyArray<readonly [fullName: string, defaultBranch: string, archived?: "archived"]>): void {
    for (const [fullName, defaultBranch, archived] of repositories) {
      server.addRepository(fullName, { "README.md": `# ${fullName}\n` }, defaultBranch);
      if (archived !== undefined) server.archive(fullName);
    }
  }

  const PAGE = "GET /installation/repositories?per_page=100";

  it("lists every repository of the installation with its default branch in one call", async () => {
    seed([
      ["contoso/api", "trunk"],
      ["Fabrikam/tools", "develop"],
    ]);

    const listed = await listInstallationRepositories(octokit);

    expect({ listed, calls: apiCalls() }).toEqual({
      listed: {
        repositories: [
          { fullName: "contoso/shop", defaultBranch: "main", archived: false },
          { fullName: "contoso/api", defaultBranch: "trunk", archived: false },
          { fullName: "Fabrikam/tools", defaultBranch: "develop", archived: false },
        ],
        calls: 1,
      },
      calls: [PAGE],
    });
  });

  it("follows Link pagination over 3 pages, one call per page", async () => {
    server.maxPerPage = 2;
    seed([
      ["contoso/api", "main"],
      ["contoso/web", "main"],
      ["contoso/infra", "main"],
      ["contoso/docs", "main"],
      ["contoso/ops", "main"],
    ]);

    const listed = await listInstallationRepositories(octokit);

    expect({ listed, calls: apiCalls() }).toEqual({
      listed: {
        repositories: ["contoso/shop", "contoso/api", "contoso/web", "contoso/infra", "contoso/docs", "contoso/ops"].map((fullName) => ({ fullName, defaultBranch: "main", archived: false })),
        calls: 3,
      },
      calls: [PAGE, `${PAGE}&page=2`, `${PAGE}&page=3`],
    });
  });

  it("skips archived repositories, on every page", async () => {
    server.maxPerPage = 2;
    seed([
      ["contoso/legacy", "master", "archived"],
      ["contoso/api", "main"],
      ["contoso/old-api", "main", "archived"],
      ["contoso/web", "main"],
    ]);

    const listed = await listInstallationRepositories(octokit);

    expect(listed).toEqual({
      repositories: [
        { fullName: "contoso/shop", defaultBranch: "main", archived: false },
        { fullName: "contoso/api", defaultBranch: "main", archived: false },
        { fullName: "contoso/web", defaultBranch: "main", archived: false },
      ],
      calls: 3,
    });
  });

  it.each([
    ["contoso", ["contoso/shop", "contoso/api"]],
    ["CONTOSO", ["contoso/shop", "contoso/api"]],
    ["fabrikam", ["Fabrikam/tools"]],
    ["northwind", []],
  ])("keeps only the repositories of owner %s, case-insensitively", async (owner, expected) => {
    server.maxPerPage = 2;
    seed([
      ["Fabrikam/tools", "main"],
      ["contoso/api", "main"],
      ["Fabrikam/archive", "main", "archived"],
      ["contoso-labs/shop", "main"],
    ]);

    const listed = await listInstallationRepositories(octokit, { owner });

    expect(listed).toEqual({ repositories: expected.map((fullName) => ({ fullName, defaultBranch: "main", archived: false })), calls: 3 });
  });

  it.each([
    ["a 403", 403, {}, { status: 403, retryable: false, message: " failed with HTTP 403: Injected" }],
    ["a 502", 502, {}, { status: 502, retryable: true, message: " failed with HTTP 502: Injected" }],
    ["a page without repositories", 200, {}, { status: null, retryable: false, message: ": unexpected response body" }],
    [
      "a next link to another host",
      200,
      { link: '<https://example.com/installation/repositories?per_page=100&page=2>; rel="next"' },
      { status: null, retryable: false, message: ": pagination link points at another host" },
    ],
  ])("maps %s to an UpstreamError", async (_case, status, headers, expected) => {
    server.fail("GET", "/installation/repositories", status, 1, { message: "Injected", headers });

    const failure = await rejection(listInstallationRepositories(client({ retries: 0 })));

    expect({ failure, calls: apiCalls() }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: `github: listing the installation's repositories (page 1)${expected.message}`,
        retryable: expected.retryable,
        details: { service: "github", status: expected.status },
      },
      calls: [PAGE],
    });
  });
});
