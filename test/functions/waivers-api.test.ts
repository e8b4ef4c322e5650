/** The waiver endpoint through the composition root on Azurite: what is recorded, what is refused. */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import type { Services } from "../../shared/composition.js";
import { generateHostKeys, startLocalHost, type LocalHost } from "../../shared/local/local-host.js";

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

  it("without a signed-in user (the function key let the request in), needs `by` in the body and records nothing without it", async () => {
    const response = await call("POST", JSON.stringify({ campaignId: "c1", until: "2h", reason: "freeze" }), null);
    expect({ status: response.status, message: response.body["message"], waivers: await services.store.listWaivers() }).toEqual({ status: 400, message: "waiver: by: required", waivers: [] });
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

  describe("through the local Functions host (authLevel function, excluded from sign-in as in Azure)", () => {
    let host: LocalHost;
    const keys = generateHostKeys();
    const bodyOf = (reason: string): string => JSON.stringify({ campaignId: "c1", until: "3h", reason, by: "release-bot@contoso.test" });

    beforeAll(async () => {
      const functionsDir = join(dir, "functions");
      await mkdir(functionsDir);
      await writeFile(join(functionsDir, "waivers-api.js"), `import ${JSON.stringify(resolve(import.meta.dirname, "../../functions/waivers-api.ts"))};\n`);
      host = await startLocalHost({ functionsDir, hostJsonPath: resolve(import.meta.dirname, "../../host.json"), settings: { AzureWebJobsStorage: azurite.connectionString }, keys, log: () => undefined });
    });

    afterAll(async () => {
      await host?.stop();
    });

    async function post(query: string, headers: Record<string, string>, body = bodyOf("rollout paused by release manager")) {
      const before = await services.store.listWaivers();
      const response = await fetch(`${host.url}/api/waivers${query}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      const text = await response.text();
      const after = await services.store.listWaivers();
      return { status: response.status, body: text === "" ? null : (JSON.parse(text) as Record<string, unknown>), added: after.filter((waiver) => !before.some((old) => old.id === waiver.id)) };
    }

    it.each([
      ["no key", "", {}],
      ["a wrong key", "?code=not-the-key", {}],
      ["a wrong key header", "", { "x-functions-key": "not-the-key" }],
      ["the Event Grid system key", "", { "x-functions-key": keys.eventGrid }],
      ["a principal header but no key", "", { "x-ms-client-principal-name": "oncall@contoso.test", "x-ms-client-principal-idp": "aad" }],
    ])("answers 401 to a request with %s and records nothing", async (_, query, headers) => {
      expect(await post(query, headers)).toEqual({ status: 401, body: null, added: [] });
    });

    it.each([
      ["the x-functions-key header", "", { "x-functions-key": keys.host }],
      ["the code query parameter", `?code=${encodeURIComponent(keys.host)}`, {}],
    ])("records a waiver sent with the host key in %s, by whom the body names, via the function key", async (how, query, headers) => {
      // A client-sent principal header is dropped on the way in (Azure strips it too): it vouches for no one.
      const response = await post(query, { ...headers, "x-ms-client-principal-name": "mallory" }, bodyOf(`paused, key in ${how}`));
      expect({ status: response.status, added: response.added, answered: response.added.map((waiver) => ({ ...waiver, id: "-", until: "-", createdAt: "-" })) }).toEqual({
        status: 201,
        added: [response.body],
        answered: [{ id: "-", campaignId: "c1", dependent: null, until: "-", reason: `paused, key in ${how}`, by: "release-bot@contoso.test", via: "function-key", createdAt: "-" }],
      });
    });
  });
});
