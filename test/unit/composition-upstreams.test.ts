import { describe, expect, it } from "vitest";
import { createUpstreams } from "../../shared/composition.js";
import { parseConfig } from "../../shared/config.js";

const config = parseConfig(`
version: 1
registries: [{ host: contoso.azurecr.io }]
upstream:
  registries:
    - host: docker.io
      credentials: { usernameSetting: DOCKERHUB_USER, passwordSetting: DOCKERHUB_TOKEN }
bases:
  - image: docker.io/library/alpine
    tags: ["3.*"]
  - image: mcr.microsoft.com/dotnet/aspnet
    tags: ["8.0"]
`);

describe("createUpstreams", () => {
  it("serves every watched registry, and never one that notifies or is not configured", () => {
    const upstreams = createUpstreams(config, { DOCKERHUB_USER: "ripple", DOCKERHUB_TOKEN: "secret-token" });
    expect(["docker.io", "mcr.microsoft.com", "contoso.azurecr.io", "ghcr.io"].map((host) => upstreams.upstreamFor(host)?.host ?? null)).toEqual(["docker.io", "mcr.microsoft.com", null, null]);
    expect(upstreams.credentialsFor("docker.io")).toEqual({ username: "ripple", password: "secret-token" });
    expect(upstreams.credentialsFor("mcr.microsoft.com")).toBeNull();
  });

  it.each([
    ["a missing setting", { DOCKERHUB_USER: "ripple" }, "upstream registry docker.io: app settings DOCKERHUB_USER and DOCKERHUB_TOKEN must both be set"],
    ["an unresolved Key Vault reference", { DOCKERHUB_USER: "ripple", DOCKERHUB_TOKEN: "@Microsoft.KeyVault(VaultName=kv;SecretName=dockerhub-token)" }, "upstream registry docker.io: DOCKERHUB_TOKEN holds an unresolved Key Vault reference (check the app's access to the vault)"],
  ])("reports %s on that registry's calls only, without the secret", async (_, env, message) => {
    const upstreams = createUpstreams(config, env);
    await expect(upstreams.upstreamFor("docker.io")!.headManifest("library/alpine", "3.20")).rejects.toMatchObject({ code: "config_invalid", message });
    expect(upstreams.upstreamFor("mcr.microsoft.com")?.host).toBe("mcr.microsoft.com");
  });
});
