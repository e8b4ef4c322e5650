import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config.js";
import { UpstreamError } from "../../../shared/errors.js";
import type { ImageRegistry } from "../../../shared/ports/image-registry.js";
import { runDoctor } from "../../../shared/use-cases/doctor.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";

describe("runDoctor", () => {
  it("reports each unreachable thing with its fix, and never throws", async () => {
    const config = parseConfig("version: 1\nregistries: [{host: contoso.azurecr.io}]\nbases: [{image: contoso.azurecr.io/base, tags: ['1']}]\nrepositories: [{url: contoso/deploy}]\n");
    const denied: ImageRegistry = {
      host: "contoso.azurecr.io",
      readManifest: async () => null,
      listTags: async () => [],
      listRepositories: () => Promise.reject(new UpstreamError("registry", "listing repositories failed with HTTP 403", { status: 403 })),
    };
    const checks = await runDoctor({ config, store: createMemoryStateStore(), registryFor: () => denied, upstreamFor: () => null, forgeFor: () => null, listRepositories: async () => ["contoso/deploy"] });
    expect(checks).toEqual([
      { check: "state storage reachable with the app's identity (tables)", ok: true, detail: "0 campaign(s)", fix: null },
      { check: "registry contoso.azurecr.io: catalog readable", ok: false, detail: "registry: listing repositories failed with HTTP 403", fix: "grant the app's identity AcrPull (or, in ABAC mode, Container Registry Repository Reader and Catalog Lister) on the registry" },
      { check: "repositories listed for scanning (GitHub App installation when configured)", ok: false, detail: "no forge serves contoso/deploy", fix: "check RIPPLE_GITHUB_APP_ID, RIPPLE_GITHUB_INSTALLATION_ID and RIPPLE_GITHUB_PRIVATE_KEY and the App's installation" },
    ]);
  });
});
