/** The GitHub webhook entry point: signature check, event routing, through the composition root on Azurite. */
import { createHmac } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";

const SECRET = "github-webhook-secret-0123456789";

describe("githubWebhook (HTTP trigger)", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let handler: typeof import("../../functions/github-webhook.js").githubWebhook;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-gh-"));
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    await writeFile(join(dir, "ripple.yaml"), "version: 1\nregistries:\n  - host: contoso.azurecr.io\nrepositories:\n  - url: contoso/app\n");
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: "registry-secret-0123456789", RIPPLE_GITHUB_WEBHOOK_SECRET: SECRET, RIPPLE_TABLE_PREFIX: "gh", RIPPLE_QUEUE_PREFIX: "gh" });
    handler = (await import("../../functions/github-webhook.js")).githubWebhook;
  });

  afterAll(async () => {
    await azurite?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function call(event: string, payload: string, signature: string | null) {
    const headers: Record<string, string> = { "content-type": "application/json", "x-github-event": event, "content-length": String(Buffer.byteLength(payload)) };
    if (signature !== null) headers["x-hub-signature-256"] = signature;
    const request = new functions.HttpRequest({ method: "POST", url: "http://localhost/api/github/events", headers, body: { string: payload } });
    const response = await handler(request, new functions.InvocationContext({ functionName: "githubWebhook", logHandler: () => undefined }));
    return { status: response.status, body: response.jsonBody as unknown };
  }
  const sign = (payload: string, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(payload).digest("hex")}`;

  it.each([
    ["no signature", null],
    ["a signature made with another secret", sign("{}", "another-secret-0123456789")],
    ["a malformed signature", "sha1=abc"],
  ])("answers 401 for %s", async (_, signature) => {
    expect(await call("ping", "{}", signature)).toEqual({ status: 401, body: { error: "unauthorized", message: "missing or wrong X-Hub-Signature-256" } });
  });

  it("routes a verified pull_request event and ignores events it does not use", async () => {
    const closed = JSON.stringify({ action: "closed", repository: { full_name: "contoso/app" }, pull_request: { number: 4, merged: true, head: { ref: "ripple/unknown" } } });
    expect(await call("pull_request", closed, sign(closed))).toEqual({ status: 200, body: { kind: "handled", summary: "pull request #4 merged: 0 obligation(s) settled" } });
    const other = JSON.stringify({ action: "closed", repository: { full_name: "someone/else" }, pull_request: { number: 1, merged: false, head: { ref: "x" } } });
    expect(await call("pull_request", other, sign(other))).toEqual({ status: 200, body: { kind: "ignored", reason: "someone/else is not configured" } });
    expect(await call("ping", "{}", sign("{}"))).toEqual({ status: 200, body: { kind: "ignored", reason: "event ping is not used" } });
  });

  it("answers 400 with the path for a verified payload missing what it needs", async () => {
    const payload = JSON.stringify({ action: "closed", repository: { full_name: "contoso/app" } });
    const response = await call("pull_request", payload, sign(payload));
    expect(response.status).toBe(400);
    expect((response.body as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(["pull_request"]);
  });
});
