import { describe, expect, it } from "vitest";
import {
  formatImageRef,
  imageName,
  isDigest,
  isReferenceDigest,
  isSha256Digest,
  isTag,
  normalizeRegistryHost,
  parseImageRef,
  splitTagKey,
  tagKey,
  type ImageRef,
  type ParseResult,
} from "../../../shared/domain/image-ref.js";

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

describe("the grammar's pieces", () => {
  it.each([
    [`multihash+base58:${"A".repeat(32)}`, true],
    [`sha512:${"a".repeat(31)}=`, true],
    [`sha512:${"a".repeat(31)}`, false],
    [`SHA512:${"a".repeat(32)}`, false],
    [`sha512.:${"a".repeat(32)}`, false],
    [` sha512:${"a".repeat(32)}`, false],
    [`sha512:${"a".repeat(32)} `, false],
    [`sha512:${"a".repeat(32)}/`, false],
    [`sha256:${"a".repeat(64)} `, false],
    [` sha256:${"a".repeat(64)}`, false],
  ])("isDigest(%j) is %j", (text, expected) => {
    expect(isDigest(text)).toBe(expected);
  });

  it.each([
    [`sha256:${"a".repeat(64)}`, true],
    [`sha512:${"a".repeat(128)}`, false],
    [`sha256:${"g".repeat(64)}`, false],
    [`sha256:${"a".repeat(65)}`, false],
    [`xsha256:${"a".repeat(64)}`, false],
  ])("isSha256Digest(%j) is %j", (text, expected) => {
    expect(isSha256Digest(text)).toBe(expected);
  });

  it.each([
    ["a", true],
    ["_a", true],
    ["V1.2-rc_3", true],
    ["t".repeat(128), true],
    ["t".repeat(129), false],
    ["", false],
    [".a", false],
    ["-a", false],
    ["a b", false],
    ["a:b", false],
  ])("isTag(%j) is %j", (text, expected) => {
    expect(isTag(text)).toBe(expected);
  });

  it.each([
    [SHA, true],
    [`sha384:${"0".repeat(96)}`, true],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha256:${"a".repeat(63)}`, false],
    [`Sha256:${"a".repeat(64)}`, false],
    [`sha256+b64:${"a".repeat(64)}`, false],
    [`1sha:${"a".repeat(64)}`, false],
    [`sha256:${"a".repeat(31)}`, false],
    [`x${SHA}`, false],
    [`${SHA}x`, false],
  ])("isReferenceDigest(%j) is %j", (text, expected) => {
    expect(isReferenceDigest(text)).toBe(expected);
  });

  it.each([
    ["Registry.Hub.Docker.com", "docker.io"],
    ["REGISTRY-1.docker.io", "docker.io"],
    ["Index.Docker.io", "docker.io"],
    ["GHCR.io", "ghcr.io"],
    ["hub.docker.com", "hub.docker.com"],
  ])("normalizeRegistryHost(%j) is %j", (host, expected) => {
    expect(normalizeRegistryHost(host)).toBe(expected);
  });

  it("names an image and keys a tag", () => {
    expect([imageName({ registry: "ghcr.io", repository: "acme/app" }), tagKey("ghcr.io", "acme/app", "1.2")]).toEqual(["ghcr.io/acme/app", "ghcr.io/acme/app:1.2"]);
  });

  it.each([
    ["docker.io/library/alpine:3.20", { registry: "docker.io", repository: "library/alpine", tag: "3.20" }],
    ["localhost:5000/team/app:1", { registry: "localhost:5000", repository: "team/app", tag: "1" }],
    ["localhost:5000/team/app", null],
    ["/app:1", null],
    ["alpine:3", null],
    ["r.io/:1", null],
    ["r.io/app:", null],
    ["r.io/app:-x", null],
  ])("splitTagKey(%j)", (key, expected) => {
    expect(splitTagKey(key)).toEqual(expected);
  });
});

describe("parseImageRef, registry hosts", () => {
  it.each<[string, ParseResult<ImageRef>]>([
    ["registry.hub.docker.com/library/alpine:3", ok("docker.io", "library/alpine", "3")],
    ["my-registry.example.com:443/app", ok("my-registry.example.com:443", "app", "latest")],
    ["a1.b2/app", ok("a1.b2", "app", "latest")],
    ["[fe80::1]/app", ok("[fe80::1]", "app", "latest")],
    ["Host/app", ok("host", "app", "latest")],
    ["alpine:Latest", ok("docker.io", "library/alpine", "Latest")],
    ["host-.io/app", invalid('"host-.io" is not a valid registry host')],
    ["host..io/app", invalid('"host..io" is not a valid registry host')],
    ["a.b:/app", invalid('"a.b:" is not a valid registry host')],
    ["[::1]x/app", invalid('"[::1]x" is not a valid registry host')],
    ["[g::1]/app", invalid('"[g::1]" is not a valid registry host')],
    ["host.io:5000x/app", invalid('"host.io:5000x" is not a valid registry host')],
    ["x-host.io/app", ok("x-host.io", "app", "latest")],
    ["alpine\t3", invalid('image reference "alpine\t3" contains white space')],
    ["x.io/app", ok("x.io", "app", "latest")],
    [`@${SHA}`, invalid(`image reference "@${SHA}" has no repository`)],
    [`alpine@sha256+b64:${"a".repeat(64)}`, invalid(`"sha256+b64:${"a".repeat(64)}" is not a valid digest: the algorithm must be sha256, sha384 or sha512`)],
    [`alpine@sha256.v2:${"a".repeat(64)}`, invalid(`"sha256.v2:${"a".repeat(64)}" is not a valid digest: the algorithm must be sha256, sha384 or sha512`)],
    [`alpine@sha256+1:${"a".repeat(64)}`, invalid(`"sha256+1:${"a".repeat(64)}" is not a valid digest`)],
    [`alpine@sha256:A${"a".repeat(62)}A`, invalid(`"sha256:A${"a".repeat(62)}A" is not a valid digest: a sha256 digest has 64 lowercase hex characters`)],
    [`alpine@sha256:A${"a".repeat(63)}`, invalid(`"sha256:A${"a".repeat(63)}" is not a valid digest: a sha256 digest has 64 lowercase hex characters`)],
    [`alpine@sha256:${"a".repeat(63)}A`, invalid(`"sha256:${"a".repeat(63)}A" is not a valid digest: a sha256 digest has 64 lowercase hex characters`)],
  ])("%j", (text, expected) => {
    expect(parseImageRef(text)).toEqual(expected);
  });
});
