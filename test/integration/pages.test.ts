/**
 * The pages in a real headless Chromium (Debian's `chromium`, driven by playwright-core), served by the
 * local Functions host of the local stack from Table Storage on Azurite: the campaign page as a browser
 * asks for it, the runbook it links to, the status page, all with JavaScript off as well.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServices, type Services } from "../../shared/composition.js";
import { loadSettings } from "../../shared/config.js";
import { CHROMIUM_PATH } from "../../shared/local/packages.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import { HOSTILE, seedCampaign } from "../unit/web/campaign-fixture.js";

/** Without the background-networking flags, Chromium's own connections are refused on this machine. */
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ARTIFACTS = resolve(import.meta.dirname, "../../test-results");
const API = "registry.test%2Fapps%2Fapi%3A1";

/** Chromium on a fresh profile under `dir`, phone-sized, with JavaScript on or off. */
async function launchChromium(dir: string, javaScriptEnabled: boolean): Promise<BrowserContext> {
  const profile = await mkdtemp(join(dir, "chromium-"));
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, javaScriptEnabled, viewport: { width: 390, height: 844 } });
}

describe("the pages in a real browser", () => {
  let dir: string;
  let stack: Stack;
  let services: Services;
  const contexts: BrowserContext[] = [];

  const browse = async (javaScriptEnabled: boolean): Promise<BrowserContext> => {
    contexts.push(await launchChromium(dir, javaScriptEnabled));
    return contexts.at(-1)!;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-pages-"));
    stack = await startStack({ dir: join(dir, "stack") });
    services = await createServices(loadSettings(stack.settings), stack.config);
    await seedCampaign(services.store);
    // The fixture's own waiver ended long ago on this clock; this one is in force while the test runs.
    const now = Date.now();
    await services.store.putWaiver({ id: "w-now", campaignId: "c1", dependent: HOSTILE, until: new Date(now + 86_400_000).toISOString(), reason: "vendor fix due Friday", by: "oncall@example.com", createdAt: new Date(now).toISOString() });
    await mkdir(ARTIFACTS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("shows the campaign page with JavaScript off: base move, an overdue row, its timeline; the runbook link leads to its section", async () => {
    const page = await (await browse(false)).newPage();
    const response = await page.goto(`${stack.hostUrl}/api/campaigns/c1`);
    const row = page.locator(`article[id="${API}"]`);
    const seen = {
      status: response?.status(),
      contentType: response?.headers()["content-type"],
      baseMove: await page.locator("#base-move").innerText(),
      row: await row.locator("h3, p").allInnerTexts(),
      timeline: await row.locator("ol.timeline li").allInnerTexts(),
      hostile: await page.locator(`article[id="${encodeURIComponent(HOSTILE)}"] h3`).innerText(),
      scripts: await page.locator("script").count(),
    };
    await page.screenshot({ path: join(ARTIFACTS, "campaign-page.png"), fullPage: true });
    await row.locator('a[href$="#rebuild-failed"]').click();
    await page.waitForURL(/\/api\/runbook#rebuild-failed$/);
    expect({
      ...seen,
      baseMove: ["Base tag\nregistry.test/base:1", "From\nsha256:old", "To\nsha256:new", "Cascade root\nregistry.test/base:1 at sha256:new"].filter((text) => !seen.baseMove.includes(text)),
      runbook: { heading: await page.locator("h2#rebuild-failed").innerText(), visible: await page.locator("h2#rebuild-failed").isVisible() },
    }).toEqual({
      status: 200,
      contentType: "text/html; charset=utf-8",
      baseMove: [],
      row: ["registry.test/apps/api:1 overdue failed", "rebuild failed: exit status 1"],
      timeline: [
        "2026-03-02 08:00 UTC created: campaign opened",
        "2026-03-02 09:00 UTC pending → scheduled (run-1)",
        "2026-03-02 10:00 UTC scheduled → failed: exit status 1 (run-1)",
      ],
      hostile: `${HOSTILE} overdue waived`,
      scripts: 0,
      runbook: { heading: "Rebuild failed #", visible: true },
    });
  });

  it("lands on an obligation's anchor as alert links do, and reaches the campaign from the status page", async () => {
    const page = await (await browse(true)).newPage();
    await page.goto(`${stack.hostUrl}/api/campaigns/c1#${API}`);
    const target = await page.locator(":target").getAttribute("id");
    await page.goto(`${stack.hostUrl}/api/status`);
    await page.locator('a[href="campaigns/c1"]').click();
    await page.waitForURL(/\/api\/campaigns\/c1$/);
    expect({ target, heading: await page.locator("h1").innerText(), json: await (await fetch(`${stack.hostUrl}/api/campaigns/c1`, { headers: { accept: "application/json" } })).json() }).toEqual({
      target: API,
      heading: "registry.test/base:1",
      json: { ...(await services.store.getCampaign("c1")), waivers: (await services.store.listWaivers()).filter((waiver) => waiver.campaignId === null || waiver.campaignId === "c1") },
    });
  });
});
