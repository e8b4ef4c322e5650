/**
 * The GitHub issue alert sink against the GitHub contract server, through the app's real Octokit (GitHub
 * App installation auth over HTTPS with the stack CA, retry and throttling plugins).
 */
import { useContractTls } from "./helpers/contract-tls.js";
import { generateKeyPairSync } from "node:crypto";
import { Agent } from "node:https";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGitHubIssueSink } from "../../shared/adapters/alert-sinks/github-issue/github-issue-sink.js";
import { createGitHubOctokit, type GitHubOctokit } from "../../shared/adapters/github/github-client.js";
import { ConfigError } from "../../shared/errors.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { AlertMessage, AlertSink } from "../../shared/ports/alert-sink.js";
import { sampleAlert } from "./helpers/alert-message.js";
import { startGitHubContractServer, type GitHubContractServer } from "./helpers/github-contract-server.js";
import { rejection } from "./helpers/rejection.js";

const APP_ID = 424243;
const INSTALLATION_ID = 7002;
const REPO = "contoso/alerts";
const ISSUES = "/repos/contoso/alerts/issues";
const LIST = `${ISSUES}?state=all&labels=ripple-alert&per_page=100`;
const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});

const ALERT = sampleAlert();
const MARKER = `<!-- ripple-alert: ${ALERT.dedupeKey} -->`;

const BODY = [
  "docker.io/library/alpine:3.20 patched: 1 of 14 dependents late, worst by 5 h 12 min",
  "",
  `**Base** \`docker.io/library/alpine:3.20\`: \`sha256:${"a".repeat(64)}\` → \`sha256:${"9b2c4e6f8a0b1c2d".repeat(4)}\``,
  "**Late** 1 of 14 · **severity** critical · **as of** 2026-11-26T13:12:00.000Z",
  "",
  "| Dependent | Status | Step | Late by | Due | Links |",
  "| --- | --- | --- | --- | --- | --- |",
  "| `rippleacr.azurecr.io/team/api:1.0` | failed | rebuild failed: step 3 exited 1 | 5 h 12 min | 2026-11-26T08:00:00.000Z | [Run logs](https://ripple.example.com/runs/cb1) |",
  "",
  `[Campaign page](${ALERT.campaignUrl}) · [Runbook](https://ripple.example.com/runbook#rebuild-failed)`,
  "",
  MARKER,
  "<!-- ripple-alert-sequence: 1 -->",
  "",
].join("\n");

let tls: StackTls;
let agent: Agent;
let server: GitHubContractServer;
let octokit: GitHubOctokit;
let sink: AlertSink;

/** API requests (installation token), as `METHOD path`, from request `from` on. */
function apiCalls(from = 0): string[] {
  return server.requests.slice(from).filter((request) => request.auth === "token").map((request) => `${request.method} ${request.path}`);
}

/** The stored issue `number`, without its creation time. */
function issue(number: number): Record<string, unknown> | undefined {
  const found = server.issueTracker.issues(REPO).find((candidate) => candidate.number === number);
  if (found === undefined) return undefined;
  const { createdAt: _createdAt, closedAt, ...rest } = found;
  return { ...rest, closed: closedAt !== null };
}

/** An issue body as another tool (or an older delivery) left it: some text, the marker of `dedupeKey`, a sequence. */
function markedBody(dedupeKey: string, sequence: number): string {
  return `old text\n\n<!-- ripple-alert: ${dedupeKey} -->\n<!-- ripple-alert-sequence: ${sequence} -->\n`;
}

function deliver(message: Partial<AlertMessage>, previous: string | null): Promise<string | null> {
  return sink.deliver(sampleAlert(message), previous);
}

useContractTls("ripple-github-issue-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  server = await startGitHubContractServer({ tls, appId: APP_ID, appPublicKey: publicKey, installationId: INSTALLATION_ID });
  server.addRepository(REPO, { "README.md": "# alerts\n" });
  octokit = createGitHubOctokit({ appId: APP_ID, privateKey, installationId: INSTALLATION_ID, baseUrl: server.url, agent, retries: 0 });
  sink = createGitHubIssueSink({ id: "oncall-issues", octokit, repository: REPO });
});

afterEach(async () => {
  await server.stop();
});

describe("first delivery", () => {
  it("creates one labelled issue with the summary, the items table, the links and the marker", async () => {
    const reference = await sink.deliver(ALERT, null);

    expect({ reference, issues: server.issueTracker.issues(REPO).map((stored) => stored.number), issue: issue(1), calls: apiCalls() }).toEqual({
      reference: "1",
      issues: [1],
      issue: {
        number: 1,
        title: "[Ripple critical] docker.io/library/alpine:3.20 patched: 1 of 14 dependents late, worst by 5 h 12 min",
        body: BODY,
        state: "open",
        stateReason: null,
        labels: ["ripple-alert"],
        closed: false,
      },
      calls: [`GET ${LIST}`, `POST ${ISSUES}`],
    });
  });

  it("skips a pull request that carries the marker (the issues list includes pull requests)", async () => {
    // Pull requests are numbered by the server's pull store: add it before any issue so numbers never collide.
    const pull = server.addPullRequest(REPO, { head: "ripple/fix", title: "Fix", body: MARKER, labels: ["ripple-alert"] });

    const reference = await sink.deliver(ALERT, null);

    expect({ pull, reference, pullBody: server.pulls(REPO)[0]?.body, calls: apiCalls() }).toEqual({ pull: 1, reference: "2", pullBody: MARKER, calls: [`GET ${LIST}`, `POST ${ISSUES}`] });
  });

  it("ignores the marker of another alert, even one whose key starts with this alert's key", async () => {
    server.issueTracker.add(REPO, { title: "other", body: markedBody("ripple-other", 3), labels: ["ripple-alert"] });
    server.issueTracker.add(REPO, { title: "longer key", body: markedBody(`${ALERT.dedupeKey}-2`, 3), labels: ["ripple-alert"] });

    const reference = await sink.deliver(ALERT, null);

    expect({ reference, bodies: server.issueTracker.issues(REPO).map((stored) => stored.body.split("\n").at(-3)) }).toEqual({
      reference: "3",
      bodies: [`<!-- ripple-alert: ripple-other -->`, `<!-- ripple-alert: ${ALERT.dedupeKey}-2 -->`, MARKER],
    });
  });

  it("has nothing to close for a resolve without an issue", async () => {
    expect({ reference: await deliver({ action: "resolve", items: [], sequence: 2 }, null), issues: server.issueTracker.issues(REPO) }).toEqual({ reference: null, issues: [] });
  });
});

describe("finding the alert's issue again", () => {
  it("finds the issue by listing across pages when previous is null, never by search, and updates it in place", async () => {
    const first = await sink.deliver(ALERT, null);
    for (let index = 0; index < 120; index += 1) server.issueTracker.add(REPO, { title: `alert ${index}`, body: markedBody(`ripple-c${index}`, 1), labels: ["ripple-alert"] });
    server.issueTracker.add(REPO, { title: "unlabelled", body: MARKER });
    const mark = server.requests.length;

    const reference = await deliver({ action: "update", severity: "warning", late: 0, sequence: 2 }, null);

    expect({ first, reference, calls: apiCalls(mark), issue: { ...issue(1), body: undefined }, comments: server.issueTracker.comments(REPO, 1) }).toEqual({
      first: "1",
      reference: "1",
      calls: [`GET ${LIST}`, `GET ${LIST}&page=2`, `PATCH ${ISSUES}/1`],
      issue: { number: 1, title: `[Ripple warning] ${ALERT.summary}`, body: undefined, state: "open", stateReason: null, labels: ["ripple-alert"], closed: false },
      comments: [],
    });
    expect(server.issueTracker.issues(REPO)[0]?.body).toContain("**Late** 0 of 14 · **severity** warning");
    expect(server.requests.some((request) => request.path.startsWith("/search"))).toBe(false);
  });

  it("uses previous first: one read, one update, no listing", async () => {
    await sink.deliver(ALERT, null);
    const mark = server.requests.length;

    const reference = await deliver({ action: "update", sequence: 2, summary: "docker.io/library/alpine:3.20 patched: 2 of 14 dependents late" }, "1");

    expect({ reference, calls: apiCalls(mark), title: issue(1)?.title }).toEqual({
      reference: "1",
      calls: [`GET ${ISSUES}/1`, `PATCH ${ISSUES}/1`],
      title: "[Ripple critical] docker.io/library/alpine:3.20 patched: 2 of 14 dependents late",
    });
  });

  it("falls back to listing when previous names an issue that no longer carries the marker", async () => {
    const stranger = server.issueTracker.add(REPO, { title: "someone else's", body: "no marker", labels: ["ripple-alert"] });
    const ours = server.issueTracker.add(REPO, { title: "ours", body: markedBody(ALERT.dedupeKey, 1), labels: ["ripple-alert"] });
    const mark = server.requests.length;

    const reference = await deliver({ action: "update", sequence: 2 }, String(stranger));

    expect({ reference, calls: apiCalls(mark), strangerBody: server.issueTracker.issues(REPO)[0]?.body }).toEqual({
      reference: String(ours),
      calls: [`GET ${ISSUES}/${stranger}`, `GET ${LIST}`, `PATCH ${ISSUES}/${ours}`],
      strangerBody: "no marker",
    });
  });

});

describe("updating the issue", () => {
  it.each([
    ["renotify", "Still unresolved (critical)"],
    ["escalate", "Escalated (critical)"],
  ] as const)("comments on %s so watchers are notified, then updates the body", async (action, heading) => {
    await sink.deliver(ALERT, null);
    const mark = server.requests.length;

    await deliver({ action, sequence: 2 }, "1");

    expect({ calls: apiCalls(mark), comments: server.issueTracker.comments(REPO, 1) }).toEqual({
      calls: [`GET ${ISSUES}/1`, `POST ${ISSUES}/1/comments`, `PATCH ${ISSUES}/1`],
      comments: [`${heading}: ${ALERT.summary}\n\n[Campaign page](${ALERT.campaignUrl}) · [Runbook](${ALERT.runbookUrl})`],
    });
  });

  it("reopens a closed issue when its alert is active again", async () => {
    const closed = server.issueTracker.add(REPO, { title: "closed", body: markedBody(ALERT.dedupeKey, 4), labels: ["ripple-alert"], state: "closed" });

    const reference = await deliver({ action: "renotify", sequence: 5 }, null);

    expect({ reference, issue: { ...issue(closed), body: undefined, title: undefined }, comments: server.issueTracker.comments(REPO, closed).length }).toEqual({
      reference: String(closed),
      issue: { number: closed, title: undefined, body: undefined, state: "open", stateReason: "reopened", labels: ["ripple-alert"], closed: false },
      comments: 1,
    });
  });

  it("resolves with a comment and closes the issue as completed; a redelivery changes nothing", async () => {
    await sink.deliver(ALERT, null);
    const resolve = { action: "resolve", items: [], late: 0, sequence: 2, summary: "docker.io/library/alpine:3.20 patched: all 14 dependents done" } as const;

    const reference = await deliver(resolve, "1");
    const mark = server.requests.length;
    const again = await deliver(resolve, "1");

    expect({ reference, again, issue: { ...issue(1), body: undefined }, comments: server.issueTracker.comments(REPO, 1), redelivery: apiCalls(mark) }).toEqual({
      reference: "1",
      again: "1",
      issue: { number: 1, title: "[Ripple] Resolved: docker.io/library/alpine:3.20 patched: all 14 dependents done", body: undefined, state: "closed", stateReason: "completed", labels: ["ripple-alert"], closed: true },
      comments: ["Resolved: docker.io/library/alpine:3.20 patched: all 14 dependents done"],
      redelivery: [`GET ${ISSUES}/1`],
    });
    expect(server.issueTracker.issues(REPO)[0]?.body).toContain("Resolved: every dependent is done or waived.");
  });

  it("drops a delivery older than the one the issue shows", async () => {
    await deliver({ sequence: 7 }, null);
    const mark = server.requests.length;

    const reference = await deliver({ action: "update", sequence: 6, summary: "stale" }, "1");

    expect({ reference, calls: apiCalls(mark), title: issue(1)?.title }).toEqual({ reference: "1", calls: [`GET ${ISSUES}/1`], title: `[Ripple critical] ${ALERT.summary}` });
  });
});

describe("failures", () => {
  it("names the missing App permission on GitHub's 403, not retryable", async () => {
    server.permissions = { contents: "write", metadata: "read", issues: "read" };

    const failure = await rejection(sink.deliver(ALERT, null), { secret: server.installationToken || "ghs_" });

    expect(failure).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "github: github-issue sink oncall-issues: creating an issue in contoso/alerts failed with HTTP 403: Resource not accessible by integration; the GitHub App installation needs the issues=write permission",
      retryable: false,
      details: { service: "github", status: 403 },
    });
  });

  it("names the read permission when the installation cannot even list issues", async () => {
    server.permissions = { contents: "write", metadata: "read" };

    const failure = await rejection(sink.deliver(ALERT, null));

    expect(failure.message).toBe(
      "github: github-issue sink oncall-issues: listing issues of contoso/alerts (page 1) failed with HTTP 403: Resource not accessible by integration; the GitHub App installation needs the issues=read permission",
    );
  });

  it("hands a rate limit back retryable with GitHub's wait, after one request", async () => {
    server.limitSecondary("GET", ISSUES, { status: 429, retryAfterSeconds: 120, times: 1 });

    const failure = await rejection(sink.deliver(ALERT, null));

    expect({ failure, calls: apiCalls() }).toEqual({
      failure: {
        name: "UpstreamError",
        code: "upstream_failed",
        message: expect.stringMatching(/^github: github-issue sink oncall-issues: listing issues of contoso\/alerts \(page 1\) failed with HTTP 429: You have exceeded a secondary rate limit/),
        retryable: true,
        details: { service: "github", status: 429, retryAfterMs: 120_000 },
      },
      calls: [`GET ${LIST}`],
    });
  });

  it("maps a 502 to a retryable error", async () => {
    server.fail("POST", ISSUES, 502, 1, { message: "Server Error" });

    const failure = await rejection(sink.deliver(ALERT, null));

    expect(failure).toEqual({
      name: "UpstreamError",
      code: "upstream_failed",
      message: "github: github-issue sink oncall-issues: creating an issue in contoso/alerts failed with HTTP 502: Server Error",
      retryable: true,
      details: { service: "github", status: 502 },
    });
  });

  it("refuses a repository that is not owner/name", () => {
    expect(() => createGitHubIssueSink({ id: "bad", octokit, repository: "https://github.com/contoso/alerts" })).toThrow(ConfigError);
  });
});
