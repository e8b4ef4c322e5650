import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  EMPTY_CONFIG_FACTS,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  computeDigest,
  isImageConfigMediaType,
  parseImageConfig,
  parseManifest,
  toImageFacts,
  type ParsedManifest,
} from "../../../shared/adapters/oci/parse-manifest.js";
import { AppError } from "../../../shared/errors.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/manifests/${name}`, import.meta.url));
const sha256 = (bytes: Uint8Array | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
/** The fixtures' made-up blob digests are the sha256 of a label. */
const fake = (label: string): string => sha256(label);
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

interface ErrorShape {
  name: string;
  code: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

function caught(run: () => unknown): ErrorShape {
  try {
    run();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { name: error.name, code: error.code, retryable: error.retryable, details: error.details };
  }
  throw new Error("expected an error");
}

describe("parseManifest", () => {
  const ociManifest = fixture("oci-image-manifest.json");
  const dockerManifest = fixture("docker-v2-manifest.json");
  const ociIndex = fixture("oci-index-with-attestations.json");
  const dockerList = fixture("docker-manifest-list.json");

  it.each<{ name: string; content: Buffer; contentType: string | null; expected: ParsedManifest }>([
    {
      name: "an OCI image manifest written by buildah",
      content: ociManifest,
      contentType: OCI_MANIFEST,
      expected: {
        kind: "image",
        digest: sha256(ociManifest),
        mediaType: OCI_MANIFEST,
        configDigest: fake("oci-config"),
        configMediaType: "application/vnd.oci.image.config.v1+json",
        layers: [fake("alpine-layer"), fake("app-layer")],
        annotations: {
          "org.opencontainers.image.base.digest": fake("alpine-index"),
          "org.opencontainers.image.base.name": "docker.io/library/alpine:3.20",
        },
      },
    },
    {
      name: "a Docker v2 schema 2 manifest",
      content: dockerManifest,
      contentType: DOCKER_MANIFEST,
      expected: {
        kind: "image",
        digest: sha256(dockerManifest),
        mediaType: DOCKER_MANIFEST,
        configDigest: fake("docker-config"),
        configMediaType: "application/vnd.docker.container.image.v1+json",
        layers: [fake("debian-layer")],
        annotations: {},
      },
    },
    {
      name: "an OCI index from buildx, dropping its unknown/unknown attestation manifests",
      content: ociIndex,
      contentType: OCI_INDEX,
      expected: {
        kind: "index",
        digest: sha256(ociIndex),
        mediaType: OCI_INDEX,
        annotations: { "org.opencontainers.image.created": "2024-07-22T18:05:00Z" },
        children: [
          { digest: fake("idx-amd64"), mediaType: OCI_MANIFEST, platform: { os: "linux", architecture: "amd64", variant: null } },
          { digest: fake("idx-arm64"), mediaType: OCI_MANIFEST, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      },
    },
    {
      name: "a Docker manifest list with variants and a Windows image",
      content: dockerList,
      contentType: DOCKER_LIST,
      expected: {
        kind: "index",
        digest: sha256(dockerList),
        mediaType: DOCKER_LIST,
        annotations: {},
        children: [
          { digest: fake("ml-amd64"), mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "amd64", variant: null } },
          { digest: fake("ml-armv6"), mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "arm", variant: "v6" } },
          { digest: fake("ml-armv7"), mediaType: DOCKER_MANIFEST, platform: { os: "linux", architecture: "arm", variant: "v7" } },
          { digest: fake("ml-win"), mediaType: DOCKER_MANIFEST, platform: { os: "windows", architecture: "amd64", variant: null } },
        ],
      },
    },
  ])("parses $name", ({ content, contentType, expected }) => {
    expect(parseManifest(content, { contentType })).toEqual(expected);
  });

  it("accepts the digest it was asked for", () => {
    expect(parseManifest(ociManifest, { expectedDigest: sha256(ociManifest) }).digest).toEqual(sha256(ociManifest));
  });

  const bareManifest = json({ schemaVersion: 2, config: { digest: fake("c") }, layers: [{ digest: fake("l") }] });
  const bareIndex = json({ schemaVersion: 2, manifests: [{ digest: fake("child") }, { digest: fake("odd"), platform: { os: "linux" } }] });
  const nullAnnotations = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: fake("c") }, layers: [], annotations: null });
  const mixedAnnotations = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: fake("c") }, layers: [], annotations: { keep: "yes", drop: 1 } });

  it.each<{ name: string; content: Buffer; contentType: string | null; expected: ParsedManifest }>([
    {
      name: "an OCI manifest without mediaType, typed by its Content-Type (with parameters)",
      content: bareManifest,
      contentType: `${OCI_MANIFEST}; charset=utf-8`,
      expected: { kind: "image", digest: sha256(bareManifest), mediaType: OCI_MANIFEST, configDigest: fake("c"), configMediaType: null, layers: [fake("l")], annotations: {} },
    },
    {
      name: "an OCI manifest without mediaType or Content-Type, typed by its shape",
      content: bareManifest,
      contentType: null,
      expected: { kind: "image", digest: sha256(bareManifest), mediaType: OCI_MANIFEST, configDigest: fake("c"), configMediaType: null, layers: [fake("l")], annotations: {} },
    },
    {
      name: "an index served as application/json, children without or with partial platforms",
      content: bareIndex,
      contentType: "application/json",
      expected: {
        kind: "index",
        digest: sha256(bareIndex),
        mediaType: OCI_INDEX,
        annotations: {},
        children: [
          { digest: fake("child"), mediaType: OCI_MANIFEST, platform: null },
          { digest: fake("odd"), mediaType: OCI_MANIFEST, platform: null },
        ],
      },
    },
    {
      name: "null annotations",
      content: nullAnnotations,
      contentType: OCI_MANIFEST,
      expected: { kind: "image", digest: sha256(nullAnnotations), mediaType: OCI_MANIFEST, configDigest: fake("c"), configMediaType: null, layers: [], annotations: {} },
    },
    {
      name: "annotations with a non-string value, which is dropped",
      content: mixedAnnotations,
      contentType: OCI_MANIFEST,
      expected: { kind: "image", digest: sha256(mixedAnnotations), mediaType: OCI_MANIFEST, configDigest: fake("c"), configMediaType: null, layers: [], annotations: { keep: "yes" } },
    },
  ])("is lenient with $name", ({ content, contentType, expected }) => {
    expect(parseManifest(content, { contentType })).toEqual(expected);
  });

  const oversized = Buffer.concat([json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: fake("c") }, layers: [] }), Buffer.alloc(MAX_MANIFEST_BYTES, " ")]);
  const exactlyAtCap = Buffer.concat([bareManifest, Buffer.alloc(MAX_MANIFEST_BYTES - bareManifest.byteLength, " ")]);

  it.each<{ name: string; content: Buffer; options: { expectedDigest?: string; contentType?: string }; expected: ErrorShape }>([
    {
      name: "a manifest past 4 MiB",
      content: oversized,
      options: {},
      expected: { name: "AppError", code: "manifest_too_large", retryable: false, details: { part: "manifest", maxBytes: MAX_MANIFEST_BYTES } },
    },
    {
      name: "a manifest whose bytes do not match the digest asked for",
      content: ociManifest,
      options: { expectedDigest: fake("something else") },
      expected: {
        name: "AppError",
        code: "digest_mismatch",
        retryable: false,
        details: { part: "manifest", expected: fake("something else"), actual: sha256(ociManifest) },
      },
    },
    {
      name: "a Docker schema 1 manifest",
      content: fixture("docker-schema1-manifest.json"),
      options: {},
      expected: { name: "AppError", code: "manifest_invalid", retryable: false, details: { part: "manifest", issues: [] } },
    },
    {
      name: "bytes that are not JSON",
      content: Buffer.from("<html>login</html>"),
      options: { contentType: OCI_MANIFEST },
      expected: { name: "AppError", code: "manifest_invalid", retryable: false, details: { part: "manifest", issues: [] } },
    },
    {
      name: "an image manifest whose layer digest is malformed",
      content: json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: fake("c") }, layers: [{ digest: "sha256:short" }] }),
      options: {},
      expected: { name: "AppError", code: "manifest_invalid", retryable: false, details: { part: "manifest", issues: [{ path: "layers.0.digest", message: "not a digest" }] } },
    },
    {
      name: "an index declared by media type but without manifests",
      content: json({ schemaVersion: 2, mediaType: OCI_INDEX }),
      options: {},
      expected: {
        name: "AppError",
        code: "manifest_invalid",
        retryable: false,
        details: { part: "manifest", issues: [{ path: "manifests", message: "Invalid input: expected array, received undefined" }] },
      },
    },
  ])("rejects $name", ({ content, options, expected }) => {
    expect(caught(() => parseManifest(content, options))).toEqual(expected);
  });

  it("accepts a manifest of exactly 4 MiB", () => {
    expect(parseManifest(exactlyAtCap).digest).toEqual(sha256(exactlyAtCap));
  });
});

describe("parseImageConfig", () => {
  const ociConfig = fixture("oci-image-config.json");
  const dockerConfig = fixture("docker-image-config.json");
  const minimal = json({});
  const oddTypes = json({ created: 12, os: "linux", config: null, rootfs: { diff_ids: null } });

  it.each([
    {
      name: "an OCI config with labels, variant and two layers",
      content: ociConfig,
      expected: {
        diffIds: [fake("alpine-diff"), fake("app-diff")],
        labels: { "io.buildah.version": "1.28.2", "org.opencontainers.image.source": "https://github.com/example/app" },
        created: "2024-07-22T18:04:33.112953784Z",
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
    },
    {
      name: "a Docker config whose Labels are null",
      content: dockerConfig,
      expected: { diffIds: [fake("debian-diff")], labels: {}, created: "2024-06-13T01:20:31.734617455Z", platform: { os: "linux", architecture: "amd64", variant: null } },
    },
    { name: "an empty config", content: minimal, expected: { diffIds: [], labels: {}, created: null, platform: null } },
    { name: "a config with odd types where Ripple is lenient", content: oddTypes, expected: { diffIds: [], labels: {}, created: null, platform: null } },
  ])("parses $name", ({ content, expected }) => {
    expect(parseImageConfig(content, sha256(content))).toEqual(expected);
  });

  const oversized = Buffer.concat([json({}), Buffer.alloc(MAX_CONFIG_BYTES, " ")]);

  it.each<{ name: string; content: Buffer; digest: string; expected: ErrorShape }>([
    {
      name: "a config past 8 MiB",
      content: oversized,
      digest: sha256(oversized),
      expected: { name: "AppError", code: "manifest_too_large", retryable: false, details: { part: "config", maxBytes: MAX_CONFIG_BYTES } },
    },
    {
      name: "a config that does not match the manifest's config digest",
      content: ociConfig,
      digest: fake("oci-config"),
      expected: { name: "AppError", code: "digest_mismatch", retryable: false, details: { part: "config", expected: fake("oci-config"), actual: sha256(ociConfig) } },
    },
    {
      name: "a config whose diff_ids are not digests",
      content: json({ rootfs: { diff_ids: ["nope"] } }),
      digest: sha256(json({ rootfs: { diff_ids: ["nope"] } })),
      expected: { name: "AppError", code: "manifest_invalid", retryable: false, details: { part: "config", issues: [{ path: "rootfs.diff_ids.0", message: "not a digest" }] } },
    },
  ])("rejects $name", ({ content, digest, expected }) => {
    expect(caught(() => parseImageConfig(content, digest))).toEqual(expected);
  });
});

describe("toImageFacts", () => {
  it("joins a manifest with its config into the domain's facts", () => {
    const manifest = parseManifest(fixture("oci-image-manifest.json"));
    if (manifest.kind !== "image") throw new Error("expected an image manifest");
    const config = fixture("oci-image-config.json");
    expect(toImageFacts(manifest, parseImageConfig(config, sha256(config)))).toEqual({
      kind: "image",
      digest: sha256(fixture("oci-image-manifest.json")),
      mediaType: OCI_MANIFEST,
      configDigest: fake("oci-config"),
      layers: [fake("alpine-layer"), fake("app-layer")],
      diffIds: [fake("alpine-diff"), fake("app-diff")],
      annotations: {
        "org.opencontainers.image.base.digest": fake("alpine-index"),
        "org.opencontainers.image.base.name": "docker.io/library/alpine:3.20",
      },
      labels: { "io.buildah.version": "1.28.2", "org.opencontainers.image.source": "https://github.com/example/app" },
      created: "2024-07-22T18:04:33.112953784Z",
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
  });

  it("gives an artifact with a non-image config empty config facts", () => {
    const content = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example+type", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: fake("empty") }, layers: [] });
    const manifest = parseManifest(content);
    if (manifest.kind !== "image") throw new Error("expected an image manifest");
    expect(toImageFacts(manifest, EMPTY_CONFIG_FACTS)).toEqual({
      kind: "image",
      digest: sha256(content),
      mediaType: OCI_MANIFEST,
      configDigest: fake("empty"),
      layers: [],
      diffIds: [],
      annotations: {},
      labels: {},
      created: null,
      platform: null,
    });
  });
});

describe("isImageConfigMediaType and computeDigest", () => {
  it.each([
    ["application/vnd.oci.image.config.v1+json", true],
    ["application/vnd.docker.container.image.v1+json", true],
    [null, true],
    ["application/vnd.oci.empty.v1+json", false],
    ["application/vnd.cncf.helm.config.v1+json", false],
  ])("%s is an image config: %s", (mediaType, expected) => {
    expect(isImageConfigMediaType(mediaType)).toEqual(expected);
  });

  it("computes sha256 digests", () => {
    expect(computeDigest(Buffer.from("hello"))).toEqual("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  });
});
