/**
 * The read API and the pages through the composition root on Azurite: JSON for API callers (the shape
 * they always had), HTML for browsers, chosen by `Accept`.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import functions from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../shared/composition.js";
import { startAzurite, type LocalAzurite } from "../../shared/local/azurite.js";
import { at, campaignOf, seedCampaign } from "../unit/web/campaign-fixture.js";

type Handler = (request: InstanceType<typeof functions.HttpRequest>, context: InstanceType<typeof functions.InvocationContext>) => Promise<{ status?: number; jsonBody?: unknown; body?: unknown; headers?: unknown }>;

/** The headers App Service Authentication adds for a signed-in user. */
const SIGNED_IN = { "x-ms-client-principal-name": "oncall@contoso.test", "x-ms-client-principal-id": "00000000-0000-0000-0000-000000000001", "x-ms-client-principal-idp": "aad" };

/** Calls an HTTP handler with a GET of `path` (signed in, unless told otherwise) and reads what it answered. */
async function call(handler: Handler, path: string, params: Record<string, string>, accept?: string, signedIn: Record<string, string> | null = SIGNED_IN) {
  const request = new functions.HttpRequest({ method: "GET", url: `http://localhost/api/${path}`, params, headers: { ...(accept === undefined ? {} : { accept }), ...(signedIn ?? {}) } });
  const response = await handler(request, new functions.InvocationContext({ functionName: "test", logHandler: () => undefined }));
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  return { status: response.status, contentType: headers.get("content-type"), vary: headers.get("vary"), json: response.jsonBody, html: typeof response.body === "string" ? response.body : null };
}

/** 1,000 image dependents `apps/a0000` … `apps/a0999`. */
const thousandImages = () => Array.from({ length: 1000 }, (_, index) => ({ kind: "image" as const, registry: "registry.test", repository: `apps/a${String(index).padStart(4, "0")}`, tag: "1", digest: "sha256:old" }));

let dir: string;
let azurite: LocalAzurite;
let services: Services;
let handlers: { campaigns: Handler; status: Handler; runbook: Handler };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ripple-campaigns-api-"));
  azurite = await startAzurite({ dir: join(dir, "azurite") });
  await writeFile(join(dir, "ripple.yaml"), "version: 1\nregistries:\n  - host: registry.test\n    kind: distribution\n");
  Object.assign(process.env, { AzureWebJobsStorage: azurite.connectionString, RIPPLE_CONFIG: join(dir, "ripple.yaml"), RIPPLE_WEBHOOK_SECRET: "pages-test-secret-0123456789", RIPPLE_TABLE_PREFIX: "pages", RIPPLE_QUEUE_PREFIX: "pages", WEBSITE_AUTH_ENABLED: "True" });
  handlers = {
    campaigns: (await import("../../functions/campaigns-api.js")).campaignsApi as Handler,
    status: (await import("../../functions/status-page.js")).statusPage as Handler,
    runbook: (await import("../../functions/runbook-page.js")).runbookPage as Handler,
  };
  services = await (await import("../../shared/composition.js")).getServices();
  await seedCampaign(services.store);
});

afterAll(async () => {
  await azurite?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("campaignsApi, statusPage and runbookPage (HTTP triggers)", () => {
  it.each([["application/json"], [undefined], ["*/*"]])("answers one campaign as JSON, as stored, for Accept %s", async (accept) => {
    expect(await call(handlers.campaigns, "campaigns/c1", { id: "c1" }, accept)).toEqual({
      status: 200,
      contentType: "application/json",
      vary: "Accept",
      json: { ...(await services.store.getCampaign("c1")), waivers: (await services.store.listWaivers()).filter((waiver) => waiver.campaignId === null || waiver.campaignId === "c1") },
      html: null,
    });
  });

  it("lists campaigns as JSON, and answers 404 JSON for an unknown one", async () => {
    expect([await call(handlers.campaigns, "campaigns", {}, "application/json"), await call(handlers.campaigns, "campaigns/nope", { id: "nope" }, "application/json")]).toEqual([
      { status: 200, contentType: "application/json", vary: null, json: { campaigns: await services.store.listCampaigns() }, html: null },
      { status: 404, contentType: "application/json", vary: "Accept", json: { error: "not_found", message: "no campaign nope" }, html: null },
    ]);
  });

  it("answers a browser with the campaign page, and a 404 page for an unknown campaign", async () => {
    const accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    const page = await call(handlers.campaigns, "campaigns/c1", { id: "c1" }, accept);
    const missing = await call(handlers.campaigns, "campaigns/nope", { id: "nope" }, accept);
    expect({
      page: { status: page.status, contentType: page.contentType, vary: page.vary, json: page.json },
      fragments: ['<article class="card" id="registry.test%2Fapps%2Fapi%3A1">', '<a href="../runbook#rebuild-failed">', "slack: 404 channel_not_found"].filter((fragment) => !page.html!.includes(fragment)),
      missing: { status: missing.status, text: missing.html!.includes("No campaign <code>nope</code> is recorded.") },
    }).toEqual({
      page: { status: 200, contentType: "text/html; charset=utf-8", vary: "Accept", json: undefined },
      fragments: [],
      missing: { status: 404, text: true },
    });
  });

  it("serves the status page as JSON or HTML, and the runbook as HTML", async () => {
    const json = await call(handlers.status, "status", {}, "application/json");
    const page = await call(handlers.status, "status", {}, "text/html");
    const runbook = await call(handlers.runbook, "runbook", {}, "text/html");
    expect({
      json: { status: json.status, campaigns: (json.json as { campaigns: { campaignId: string; open: number }[] }).campaigns.map(({ campaignId, open }) => ({ campaignId, open })) },
      page: { status: page.status, contentType: page.contentType, linked: page.html!.includes('<a href="campaigns/c1">registry.test/base:1</a>') },
      runbook: { status: runbook.status, contentType: runbook.contentType, overdue: runbook.html!.includes('<h2 id="overdue">') },
    }).toEqual({
      json: { status: 200, campaigns: [{ campaignId: "c1", open: 3 }] },
      page: { status: 200, contentType: "text/html; charset=utf-8", linked: true },
      runbook: { status: 200, contentType: "text/html; charset=utf-8", overdue: true },
    });
  });

  it("renders every obligation of a campaign of 1,000 (its speed is the benchmark's campaign_page_ms)", async () => {
    const { campaign, obligations } = campaignOf("big", thousandImages(), at(0), "registry.test/big:1");
    await services.store.openCampaign(campaign, obligations);
    const page = await call(handlers.campaigns, "campaigns/big", { id: "big" }, "text/html");
    expect({ status: page.status, articles: page.html!.split('<article class="card"').length - 1 }).toEqual({ status: 200, articles: 1000 });
  });

  it("answers 401 to anyone not signed in, and to a principal header App Service Authentication did not vouch for", async () => {
    const anonymous = await Promise.all([
      call(handlers.campaigns, "campaigns", {}, "application/json", null),
      call(handlers.campaigns, "campaigns/big", { id: "big" }, "text/html", null),
      call(handlers.status, "status", {}, "text/html", null),
      call(handlers.runbook, "runbook", {}, "text/html", null),
    ]);
    process.env.WEBSITE_AUTH_ENABLED = "False";
    const forged = await call(handlers.campaigns, "campaigns", {}, "application/json");
    process.env.WEBSITE_AUTH_ENABLED = "True";
    const refusal = { status: 401, contentType: "application/json", vary: null, json: { error: "unauthenticated", message: "sign in required: Ripple's pages and read API are served to users signed in through App Service Authentication (Entra ID)" }, html: null };
    expect({ anonymous, forged }).toEqual({ anonymous: [refusal, refusal, refusal, refusal], forged: refusal });
  });
});
