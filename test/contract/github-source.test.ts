import { useContractTls } from "./helpers/contract-tls.js";
import { generateKeyPairSync } from "node:crypto";
import { Agent } from "node:https";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGitHubOctokit } from "../../shared/adapters/github/github-client.js";
import { createGitHubSource } from "../../shared/adapters/github/github-source.js";
import { AppError } from "../../shared/errors.js";
import type { StackTls } from "../../shared/local/tls.js";
import type { SourceRepositories } from "../../shared/ports/source-repository.js";
import { startGitHubContractServer, type GitHubContractServer } from "./helpers/github-contract-server.js";

const APP_ID = 424243;
const INSTALLATION_ID = 7002;
const REPO = "contoso/shop";
const URL_NAME = "https://github.com/contoso/shop.git";
const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});
const DOCKERFILE = "FROM 127.0.0.1:5000/ripple/company-base:1\nRUN echo web > /app/web\n";

let tls: StackTls;
let agent: Agent;
let server: GitHubContractServer;
let source: SourceRepositories;
let first: string;

useContractTls("ripple-github-source-", (scratch) => ({ tls, agent } = scratch));

beforeEach(async () => {
  server = await startGitHubContractServer({ tls, appId: APP_ID, appPublicKey: publicKey, installationId: INSTALLATION_ID });
  first = server.addRepository(REPO, { Dockerfile: DOCKERFILE, "services/api/Dockerfile": `${DOCKERFILE}# api\n`, "link/Dockerfile": { symlink: "../Dockerfile" } });
  const octokit = createGitHubOctokit({ appId: APP_ID, privateKey, installationId: INSTALLATION_ID, baseUrl: server.url, agent, retries: 0 });
  source = createGitHubSource({ octokit, repositories: new Map([[REPO, REPO], [URL_NAME, REPO]]) });
});

afterEach(async () => {
  await server.stop();
});

/** API requests (installation token), as `METHOD path`. */
const apiCalls = (): string[] => server.requests.filter((request) => request.auth === "token").map((request) => `${request.method} ${request.path}`);

describe("the GitHub source repositories", () => {
  it("reads a file at a branch and at a commit, by the repository's configured names", async () => {
    server.push(REPO, "main", { Dockerfile: `${DOCKERFILE}# v2\n` });
    expect(await source.readFile(REPO, "main", "Dockerfile")).toBe(`${DOCKERFILE}# v2\n`);
    expect(await source.readFile(URL_NAME, first, "./Dockerfile")).toBe(DOCKERFILE);
    expect(source.canRead(URL_NAME)).toBe(true);
    expect(source.canRead("contoso/other")).toBe(false);
  });

  it("walks one tree per folder, then reads the blob: never a recursive tree", async () => {
    expect(await source.readFile(REPO, "main", "services/api/Dockerfile")).toBe(`${DOCKERFILE}# api\n`);
    const calls = apiCalls();
    expect(calls.map((call) => call.replace(/[0-9a-f]{40}/g, "SHA"))).toEqual([
      `GET /repos/${REPO}/git/trees/main`,
      `GET /repos/${REPO}/git/trees/SHA`,
      `GET /repos/${REPO}/git/trees/SHA`,
      `GET /repos/${REPO}/git/blobs/SHA`,
    ]);
  });

  it.each([
    ["an unknown revision", "no-such-branch", "Dockerfile"],
    ["a missing file", "main", "Containerfile"],
    ["a missing folder", "main", "nope/Dockerfile"],
    ["a folder", "main", "services"],
    ["a file where a folder is expected", "main", "Dockerfile/x"],
    ["a symlink", "main", "link/Dockerfile"],
  ])("answers null for %s", async (_name, revision, path) => {
    expect(await source.readFile(REPO, revision, path)).toBeNull();
  });

  it("reads nothing of a repository that is not configured", async () => {
    expect(await source.readFile("contoso/other", "main", "Dockerfile")).toBeNull();
    expect(apiCalls()).toEqual([]);
  });

  it.each([
    ["an absolute path", "main", "/etc/passwd"],
    ["a path leaving the repository", "main", "a/../../x"],
    ["a revision range", "main..other", "Dockerfile"],
    ["an empty revision", "", "Dockerfile"],
  ])("refuses %s without a request", async (_name, revision, path) => {
    await expect(source.readFile(REPO, revision, path)).rejects.toMatchObject({ code: "validation_failed" });
    expect(apiCalls()).toEqual([]);
  });

  it("refuses a file over 1 MiB, and reads one of exactly 1 MiB", async () => {
    server.push(REPO, "main", { big: "x".repeat(1024 * 1024 + 1), fits: "y".repeat(1024 * 1024) });
    await expect(source.readFile(REPO, "main", "big")).rejects.toMatchObject({ code: "file_too_large" });
    expect(await source.readFile(REPO, "main", "fits")).toHaveLength(1024 * 1024);
  });

  it("fails retryable on a 5xx and not on a 403, naming the action and status but never the token", async () => {
    server.fail("GET", `/repos/${REPO}/git/trees/main`, 502, 1);
    const retryable = await source.readFile(REPO, "main", "Dockerfile").catch((error: unknown) => error);
    expect(retryable).toBeInstanceOf(AppError);
    expect(retryable).toMatchObject({ code: "upstream_failed", retryable: true, details: { service: "github", status: 502 } });
    server.fail("GET", `/repos/${REPO}/git/trees/main`, 403, 1, { message: "Resource not accessible by integration" });
    const refused = await source.readFile(REPO, "main", "Dockerfile").catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "upstream_failed", retryable: false, details: { service: "github", status: 403 } });
    expect(JSON.stringify({ message: (refused as Error).message, details: (refused as AppError).details })).not.toContain(server.installationToken);
  });
});
