import { describe, expect, it } from "vitest";
import { formatImageRef, isDigest, parseImageRef, type ImageRef, type ParseResult } from "../../../shared/domain/image-ref.js";

const SHA = "sha256:0a5b1e3a8f7f2b1c4d9e6f00112233445566778899aabbccddeeff0011223344";

function ok(registry: string, repository: string, tag: string | null, digest: string | null = null): ParseResult<ImageRef> {
  return { ok: true, value: { registry, repository, tag, digest } };
}

function invalid(reason: string): ParseResult<ImageRef> {
  return { ok: false, reason };
}

describe("parseImageRef", () => {
  it.each<[string, ParseResult<ImageRef>]>([
    // Docker Hub
    ["alpine", ok("docker.io", "library/alpine", "latest")],
    ["alpine:3.20", ok("docker.io", "library/alpine", "3.20")],
    ["library/alpine:3.20", ok("docker.io", "library/alpine", "3.20")],
    ["bitnami/redis:7.2", ok("docker.io", "bitnami/redis", "7.2")],
    ["docker.io/alpine", ok("docker.io", "library/alpine", "latest")],
    ["docker.io/library/alpine:3.20", ok("docker.io", "library/alpine", "3.20")],
    ["index.docker.io/library/alpine:3.20", ok("docker.io", "library/alpine", "3.20")],
    ["index.docker.io/alpine", ok("docker.io", "library/alpine", "latest")],
    ["registry-1.docker.io/bitnami/redis", ok("docker.io", "bitnami/redis", "latest")],
    ["  alpine:3.20  ", ok("docker.io", "library/alpine", "3.20")],
    // Other registries, ports, localhost
    ["ghcr.io/astral-sh/uv:0.4.0", ok("ghcr.io", "astral-sh/uv", "0.4.0")],
    ["mcr.microsoft.com/dotnet/sdk:8.0", ok("mcr.microsoft.com", "dotnet/sdk", "8.0")],
    ["contoso.azurecr.io/team/app/api:1.2.3", ok("contoso.azurecr.io", "team/app/api", "1.2.3")],
    ["localhost:5000/x:1", ok("localhost:5000", "x", "1")],
    ["localhost/x", ok("localhost", "x", "latest")],
    ["127.0.0.1:5000/team/base", ok("127.0.0.1:5000", "team/base", "latest")],
    ["[::1]:5000/team/base:2", ok("[::1]:5000", "team/base", "2")],
    ["Contoso.AzureCR.io/app:1", ok("contoso.azurecr.io", "app", "1")],
    ["LOCALHOST:5000/app", ok("localhost:5000", "app", "latest")],
    ["Registry/app", ok("registry", "app", "latest")],
    // Without a host, `localhost:5000` is a repository with a tag, as in Docker.
    ["localhost:5000", ok("docker.io", "library/localhost", "5000")],
    // Digests
    [`alpine@${SHA}`, ok("docker.io", "library/alpine", null, SHA)],
    [`alpine:3.20@${SHA}`, ok("docker.io", "library/alpine", "3.20", SHA)],
    [`localhost:5000/team/base:1@${SHA}`, ok("localhost:5000", "team/base", "1", SHA)],
    // Names and tags at the edge of the grammar
    ["my_org/my__app-x.y", ok("docker.io", "my_org/my__app-x.y", "latest")],
    ["alpine:_underscore.and-dash", ok("docker.io", "library/alpine", "_underscore.and-dash")],
    [`alpine:${"t".repeat(128)}`, ok("docker.io", "library/alpine", "t".repeat(128))],
    // Invalid inputs
    ["", invalid("empty image reference")],
    ["   ", invalid("empty image reference")],
    ["alpine 3.20", invalid('image reference "alpine 3.20" contains white space')],
    ["alpine@sha256:abc", invalid('"sha256:abc" is not a valid digest')],
    [`alpine@${SHA}@${SHA}`, invalid(`"${SHA}@${SHA}" is not a valid digest`)],
    ["alpine:", invalid('"" is not a valid tag')],
    ["alpine:-dash", invalid('"-dash" is not a valid tag')],
    [`alpine:${"t".repeat(129)}`, invalid(`"${"t".repeat(129)}" is not a valid tag`)],
    [":3.20", invalid('image reference ":3.20" has no repository')],
    ["localhost:5000/", invalid('image reference "localhost:5000/" has no repository')],
    ["bad_host.io/app", invalid('"bad_host.io" is not a valid registry host')],
    ["host.io:port/app", invalid('"host.io:port" is not a valid registry host')],
    ["Alpine", invalid('"library/Alpine" is not a valid repository name')],
    ["contoso.azurecr.io/Team/app", invalid('"Team/app" is not a valid repository name')],
    ["team//app", invalid('"team//app" is not a valid repository name')],
    ["app-", invalid('"library/app-" is not a valid repository name')],
    // The distribution grammar's limits: a name of at most 255 characters (counted normalized, with the
    // registry), digests Docker can verify, and no name that is a 64-hex image ID.
    ["a".repeat(237), ok("docker.io", `library/${"a".repeat(237)}`, "latest")],
    ["a".repeat(238), invalid(`repository name "docker.io/library/${"a".repeat(30)}…" has 256 characters; the limit is 255`)],
    [`ghcr.io/acme/${"b".repeat(242)}:1`, ok("ghcr.io", `acme/${"b".repeat(242)}`, "1")],
    [`ghcr.io/acme/${"b".repeat(243)}:1`, invalid(`repository name "ghcr.io/acme/${"b".repeat(35)}…" has 256 characters; the limit is 255`)],
    [`alpine@sha384:${"c".repeat(96)}`, ok("docker.io", "library/alpine", null, `sha384:${"c".repeat(96)}`)],
    [`alpine@sha512:${"c".repeat(128)}`, ok("docker.io", "library/alpine", null, `sha512:${"c".repeat(128)}`)],
    [`alpine@sha512:${"c".repeat(64)}`, invalid(`"sha512:${"c".repeat(64)}" is not a valid digest: a sha512 digest has 128 lowercase hex characters`)],
    [`alpine@sha384:${"C".repeat(96)}`, invalid(`"sha384:${"C".repeat(96)}" is not a valid digest: a sha384 digest has 96 lowercase hex characters`)],
    [`alpine@md5:${"d".repeat(32)}`, invalid(`"md5:${"d".repeat(32)}" is not a valid digest: the algorithm must be sha256, sha384 or sha512`)],
    [`alpine@blake3:${"d".repeat(64)}`, invalid(`"blake3:${"d".repeat(64)}" is not a valid digest: the algorithm must be sha256, sha384 or sha512`)],
    ["0123456789abcdef".repeat(4), invalid(`"${"0123456789abcdef".repeat(4)}" is a 64-hex image ID, not a repository name`)],
    [`${"0123456789abcdef".repeat(4)}:1`, ok("docker.io", `library/${"0123456789abcdef".repeat(4)}`, "1")],
    ["alpine:3.20+build", invalid('"3.20+build" is not a valid tag')],
    ["alpine:.hidden", invalid('".hidden" is not a valid tag')],
    ["team/app__-x", invalid('"team/app__-x" is not a valid repository name')],
    ["team/app___x", invalid('"team/app___x" is not a valid repository name')],
    ["team/app--x.y_z__w", ok("docker.io", "team/app--x.y_z__w", "latest")],
    ["team/_app", invalid('"team/_app" is not a valid repository name')],
    ["-host.io/app", invalid('"-host.io" is not a valid registry host')],
  ])("%j", (text, expected) => {
    expect(parseImageRef(text)).toEqual(expected);
  });

  it.each<[string, ParseResult<ImageRef>]>([
    ["alpine", ok("docker.io", "library/alpine", null)],
    ["alpine:3.20", ok("docker.io", "library/alpine", "3.20")],
    [`alpine@${SHA}`, ok("docker.io", "library/alpine", null, SHA)],
  ])("%j without the default tag", (text, expected) => {
    expect(parseImageRef(text, { defaultTag: false })).toEqual(expected);
  });
});

describe("formatImageRef", () => {
  it.each<[string, string]>([
    ["alpine", "docker.io/library/alpine:latest"],
    ["index.docker.io/bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"],
    ["Contoso.AzureCR.io/app:1", "contoso.azurecr.io/app:1"],
    ["localhost:5000/team/base", "localhost:5000/team/base:latest"],
    ["[::1]:5000/team/base:2", "[::1]:5000/team/base:2"],
    [`alpine@${SHA}`, `docker.io/library/alpine@${SHA}`],
    [`127.0.0.1:5000/team/base:1@${SHA}`, `127.0.0.1:5000/team/base:1@${SHA}`],
  ])("%j formats as %j and parses back to the same reference", (text, canonical) => {
    const parsed = parseImageRef(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(formatImageRef(parsed.value)).toEqual(canonical);
    expect(parseImageRef(canonical)).toEqual(parsed);
  });

  it("formats a reference without tag or digest as its bare name", () => {
    expect(formatImageRef({ registry: "docker.io", repository: "library/alpine", tag: null, digest: null })).toEqual("docker.io/library/alpine");
  });
});

describe("isDigest", () => {
  it.each([
    [`sha256:${"a".repeat(64)}`, true],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha256:${"a".repeat(63)}`, false],
    [`sha512:${"a".repeat(128)}`, true],
    ["sha256", false],
  ])("%s → %s", (text, expected) => {
    expect(isDigest(text)).toBe(expected);
  });
});
