/** The waiver endpoint through the composition root on Azurite: what is recorded, what is refused. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import type { Services } from "../../shared/composition.js";

describe("waiversApi (HTTP trigger)", () => {
  let dir: string;
  let azurite: LocalAzurite;
  let handler: typeof import("../../functions/waivers-api.js").waiversApi;
  let services: Services;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-waivers-"));
    azurite = await startAzurite({ dir: join(dir, "azurite") });
    await writeFile(join(dir, "ripple.yaml"), "version: 1\nregistries:\n  - host: 127.0.0.1:5000\n    kind: distribution\n");
    Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: "waivers-test-secret-0123456789", RIPPLE_TABLE_PREFIX: "wv", RIPPLE_QUEUE_PREFIX: "wv", WEBSITE_AUTH_ENABLED: "True" });
    handler = (await import("../../functions/waivers-api.js")).waiversApi;
    services = await (await import("../../shared/composition.js")).getServices();
    await services.store.openCampaign(
      { id: "c1", base: "127.0.0.1:5000/base:1", fromDigest: null, toDigest: `sha256:${"1".repeat(64)}`, openedAt: new Date().toISOString(), trigger: "t", jobsQueuedAt: null },
      [],
    );
  });

  afterAll(async () => {
    await azurite?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function call(method: string, body?: string, user: string | null = "oncall@contoso.test") {
    const headers: Record<string, string> = user === null ? {} : { "x-ms-client-principal-name": user, "x-ms-client-principal-idp": "aad" };
    const request = new functions.HttpRequest({ method, url: "http://localhost/api/waivers", headers, ...(body === undefined ? {} : { body: { string: body } }) });
    const response = await handler(request, new functions.InvocationContext({ functionName: "waiversApi", logHandler: () => undefined }));
    return { status: response.status, body: response.jsonBody as Record<string, unknown> };
  }

  it.each([
    ["not JSON", "{", 400, "waiver: the body is not JSON"],
    ["no campaign and no dependent", JSON.stringify({ until: "2h", reason: "freeze", by: "me" }), 400, "waiver: campaignId: name a campaignId, a dependent glob, or both"],
    ["no reason", JSON.stringify({ campaignId: "c1", until: "2h", reason: " ", by: "me" }), 400, "waiver: reason: say why (at least 3 characters)"],
    ["a time in the past", JSON.stringify({ campaignId: "c1", until: "2020-01-01T00:00:00Z", reason: "freeze", by: "me" }), 400, "waiver: until: must be in the future"],
    ["a duration over 30 days", JSON.stringify({ campaignId: "c1", until: "31d", reason: "freeze", by: "me" }), 400, "waiver: until: at most 30 days ahead"],
    ["a time without a zone", JSON.stringify({ campaignId: "c1", until: "2099-01-01T00:00:00", reason: "freeze", by: "me" }), 400, "waiver: until: an ISO 8601 time with a zone (2026-12-01T09:00Z) or a duration (48h)"],
    ["an unknown campaign", JSON.stringify({ campaignId: "nope", until: "2h", reason: "freeze", by: "me" }), 404, "no campaign nope"],
  ])("refuses %s and records nothing", async (_, body, status, message) => {
    const response = await call("POST", body);
    expect({ status: response.status, message: response.body["message"], waivers: await services.store.listWaivers() }).toEqual({ status, message, waivers: [] });
  });

  it("refuses anyone not signed in, and records nothing", async () => {
    const response = await call("POST", JSON.stringify({ campaignId: "c1", until: "2h", reason: "freeze", by: "me" }), null);
    expect({ status: response.status, error: response.body["error"], waivers: await services.store.listWaivers() }).toEqual({ status: 401, error: "unauthenticated", waivers: [] });
  });

  it("records a waiver once for a repeated request, by the signed-in user whatever the body says, and lists it", async () => {
    const request = JSON.stringify({ campaignId: "c1", dependent: "127.0.0.1:5000/apps/*", until: "2h", reason: "vendor fix due Monday", by: "someone-else" });
    const first = await call("POST", request);
    const second = await call("POST", request);
    const listed = await call("GET");
    const waiver = first.body;
    expect({ first: first.status, same: second.body["id"] === waiver["id"], listed: listed.body, fields: { ...waiver, id: "-", until: "-", createdAt: "-" } }).toEqual({
      first: 201,
      same: true,
      // A repeat is the same waiver (one record); its duration now ends a few milliseconds later.
      listed: { waivers: [second.body] },
      fields: { id: "-", campaignId: "c1", dependent: "127.0.0.1:5000/apps/*", until: "-", reason: "vendor fix due Monday", by: "oncall@contoso.test", createdAt: "-" },
    });
  });
});
