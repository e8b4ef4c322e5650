import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bumpPins, classifyPinFile, findPins, type BumpChange, type BumpResult, type BumpTarget, type Pin, type PinFileKind } from "../../../shared/domain/pins.js";

const OLD = "sha256:d4a28e59ebd25e224d35fb665a1305a4f700b6d8c954eae9bab9f5748d658efa";
const NEW = "sha256:11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437";
const OTHER = "sha256:9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91";
const HEX = OLD.slice("sha256:".length);

/** Joins lines with `\n`, so a case reads like the file it stands for. */
function lines(...text: string[]): string {
  return text.join("\n");
}

/** Joins lines with `\r\n`. */
function crlf(...text: string[]): string {
  return text.join("\r\n");
}

function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/pins/${name}`, import.meta.url), "utf8");
}

/** The fixture with the given lines swapped for their `after`, every other byte (line breaks included) kept. */
function withChanges(text: string, changes: readonly BumpChange[]): string {
  const split = text.split("\n");
  for (const change of changes) {
    const old = split[change.line - 1] ?? "";
    split[change.line - 1] = change.after + (old.endsWith("\r") ? "\r" : "");
  }
  return split.join("\n");
}

function target(name: string, tag: string | null = null, digest: string | null = OLD): BumpTarget {
  return { name, tag, digest };
}

const ALPINE = target("alpine");

describe("classifyPinFile", () => {
  it.each<[string, PinFileKind | null]>([
    ["Dockerfile", "dockerfile"],
    ["services/api/Dockerfile", "dockerfile"],
    ["Dockerfile.prod", "dockerfile"],
    ["dockerfile", "dockerfile"],
    ["build/api.Dockerfile", "dockerfile"],
    ["images/base.dockerfile", "dockerfile"],
    ["Containerfile", "dockerfile"],
    ["Containerfile.dev", "dockerfile"],
    ["Dockerfile.dockerignore", null],
    ["buildDockerfile", null],
    ["api.Dockerfile.bak", null],
    ["build/app.dockerfile.yaml", "yaml"],
    ["build/api.Containerfile", "dockerfile"],
    ["docker-compose.yml", "compose"],
    ["compose.yaml", "compose"],
    ["deploy/docker-compose.override.yaml", "compose"],
    ["compose.prod.yml", "compose"],
    [".github/workflows/ci.yml", "workflow"],
    [".github\\workflows\\release.yaml", "workflow"],
    [".github/workflows/compose.yml", "workflow"],
    ["charts/api/values.yaml", "helm-values"],
    ["charts/api/values-production.yml", "helm-values"],
    ["deploy/k8s/deployment.yaml", "yaml"],
    [".github/dependabot.yml", "yaml"],
    ["charts/api/my-values.yaml", "yaml"],
    [".github/workflows/nested/ci.yml", "yaml"],
    [".github/workflows/ci.yml.disabled", null],
    ["my-compose.yml", "yaml"],
    ["docker-compose.yml.orig", null],
    ["charts/api/values.yaml.orig", null],
    ["deploy/k8s/deployment.yaml.bak", null],
    ["README.md", null],
    ["package.json", null],
    ["Makefile", null],
  ])("%s → %s", (path, kind) => {
    expect(classifyPinFile(path)).toEqual(kind);
  });
});

describe("findPins", () => {
  function pin(path: string, kind: PinFileKind, line: number, name: string, tag: string | null, digest: string, text: string): Pin {
    return { path, line, kind, name, tag, digest, text };
  }

  it.each<[string, string, Pin[]]>([
    [
      "go-service.Dockerfile",
      "go-service.Dockerfile",
      [
        pin("go-service.Dockerfile", "dockerfile", 1, "docker.io/docker/dockerfile", "1.7", "sha256:93b8edb0066d58b98bcf1f5e223a186f231ab09ae359ceb2e771fa381c5f9dc5", "docker/dockerfile:1.7@sha256:93b8edb0066d58b98bcf1f5e223a186f231ab09ae359ceb2e771fa381c5f9dc5"),
        pin("go-service.Dockerfile", "dockerfile", 5, "docker.io/library/golang", "1.22.5-alpine3.20", "sha256:d754ed9f64ac293b10268157f283ee23256fb32a4f8dedb25c8446ca5bcb0bb3", "golang:1.22.5-alpine3.20@sha256:d754ed9f64ac293b10268157f283ee23256fb32a4f8dedb25c8446ca5bcb0bb3"),
        pin("go-service.Dockerfile", "dockerfile", 6, "gcr.io/distroless/static-debian12", "nonroot", "sha256:ea3e6869841f102bdb95fc7358ad94097770136193d88ac06a56a1c5a318d613", "gcr.io/distroless/static-debian12:nonroot@sha256:ea3e6869841f102bdb95fc7358ad94097770136193d88ac06a56a1c5a318d613"),
        pin("go-service.Dockerfile", "dockerfile", 16, "contoso.azurecr.io/tools/protoc", "25.1", "sha256:e07670500ef9a2f0ba8278544f44de98d1251660c64e7aac63f99d4512f8f898", "contoso.azurecr.io/tools/protoc:25.1@sha256:e07670500ef9a2f0ba8278544f44de98d1251660c64e7aac63f99d4512f8f898"),
        pin("go-service.Dockerfile", "dockerfile", 23, "docker.io/library/busybox", "1.36", OTHER, `busybox:1.36@${OTHER}`),
      ],
    ],
    [
      "windows-crlf.Dockerfile",
      "windows-crlf.Dockerfile",
      [
        pin("windows-crlf.Dockerfile", "dockerfile", 4, "mcr.microsoft.com/dotnet/sdk", "8.0-windowsservercore-ltsc2022", "sha256:9abb933a516f7b2a9dc72499676f7664dbe7a8649209c42f6132db0fa5e74d89", "mcr.microsoft.com/dotnet/sdk:8.0-windowsservercore-ltsc2022@sha256:9abb933a516f7b2a9dc72499676f7664dbe7a8649209c42f6132db0fa5e74d89"),
        pin("windows-crlf.Dockerfile", "dockerfile", 13, "mcr.microsoft.com/windows/servercore", "ltsc2022", "sha256:327c9b917bd132cdd99bdd8ab5cb7437376791131e18be94de73068c0729f50c", "mcr.microsoft.com/windows/servercore:ltsc2022@sha256:327c9b917bd132cdd99bdd8ab5cb7437376791131e18be94de73068c0729f50c"),
        pin("windows-crlf.Dockerfile", "dockerfile", 16, "mcr.microsoft.com/powershell", "lts-nanoserver-ltsc2022", "sha256:86f51b17077aee2d7885528286a00aa632489cfee188cc99fbec881feb06dca7", "mcr.microsoft.com/powershell:lts-nanoserver-ltsc2022@sha256:86f51b17077aee2d7885528286a00aa632489cfee188cc99fbec881feb06dca7"),
      ],
    ],
    [
      "docker-compose.yml",
      "docker-compose.yml",
      [
        pin("docker-compose.yml", "compose", 4, "docker.io/library/redis", "7.2-alpine", "sha256:34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03", "redis:7.2-alpine@sha256:34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03"),
        pin("docker-compose.yml", "compose", 8, "docker.io/library/postgres", "16.3", "sha256:a942b37ccfaf5a813b1432caa209a43b9d144e47ad0de1549c289c253e556cd5", "postgres:16.3@sha256:a942b37ccfaf5a813b1432caa209a43b9d144e47ad0de1549c289c253e556cd5"),
        pin("docker-compose.yml", "compose", 16, "localhost:5000/mirror/registry", "2", "sha256:81a896458f9dcc1be67a65a3ff943f4465dfbf767d295192edec99a2de6b5d6a", "localhost:5000/mirror/registry:2@sha256:81a896458f9dcc1be67a65a3ff943f4465dfbf767d295192edec99a2de6b5d6a"),
        pin("docker-compose.yml", "compose", 23, "docker.io/library/nginx", null, "sha256:5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65", "docker.io/library/nginx@sha256:5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65"),
      ],
    ],
    [
      "deploy/k8s-api.yaml",
      "k8s-api.yaml",
      [
        pin("deploy/k8s-api.yaml", "kubernetes", 19, "contoso.azurecr.io/shop/api", "2.3.1", "sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333", "contoso.azurecr.io/shop/api:2.3.1@sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333"),
        pin("deploy/k8s-api.yaml", "kubernetes", 23, "contoso.azurecr.io/shop/api", "2.3.1", "sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333", "contoso.azurecr.io/shop/api:2.3.1@sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333"),
        pin("deploy/k8s-api.yaml", "kubernetes", 27, "docker.io/envoyproxy/envoy", "v1.30.1", "sha256:84532b306f259587c364bd7301e0813963d5b84fd27c9338f0862dab8f0499d7", "envoyproxy/envoy:v1.30.1@sha256:84532b306f259587c364bd7301e0813963d5b84fd27c9338f0862dab8f0499d7"),
        pin("deploy/k8s-api.yaml", "kubernetes", 53, "docker.io/bitnami/kubectl", "1.30", "sha256:7a7f09de08e3dc01c5bbf90657ecc83d5c2da9f5791f1ebe84132b95422878dc", "bitnami/kubectl:1.30@sha256:7a7f09de08e3dc01c5bbf90657ecc83d5c2da9f5791f1ebe84132b95422878dc"),
      ],
    ],
    [
      "debug-pod-crlf.yaml",
      "debug-pod-crlf.yaml",
      [
        pin("debug-pod-crlf.yaml", "kubernetes", 8, "docker.io/library/alpine", "3.20", OLD, `alpine:3.20@${OLD}`),
        pin("debug-pod-crlf.yaml", "kubernetes", 11, "docker.io/library/busybox", null, OTHER, `busybox@${OTHER}`),
      ],
    ],
    [
      "charts/redis/values.yaml",
      "values.yaml",
      [
        pin("charts/redis/values.yaml", "helm-values", 11, "docker.io/bitnami/redis", "7.2.5-debian-12-r0", "sha256:7f85fa5bb6b646ebde90970745cd013206a3852b510df22d145e0ca8c16fffae", "docker.io/bitnami/redis:7.2.5-debian-12-r0@sha256:7f85fa5bb6b646ebde90970745cd013206a3852b510df22d145e0ca8c16fffae"),
        pin("charts/redis/values.yaml", "helm-values", 19, "docker.io/bitnami/redis-exporter", "1.61.0", "sha256:29b220d49cd6a1ed8396172f46fce4211ca0fa0d9926dee6710a289b6bd7a08e", "docker.io/bitnami/redis-exporter:1.61.0@sha256:29b220d49cd6a1ed8396172f46fce4211ca0fa0d9926dee6710a289b6bd7a08e"),
        pin("charts/redis/values.yaml", "helm-values", 22, "quay.io/prometheus/busybox", "latest", "sha256:6c8b4535ccc87f19061c4646189e33d78f01c8b63dc4e3cb2f630b1796ee93b6", "quay.io/prometheus/busybox:latest@sha256:6c8b4535ccc87f19061c4646189e33d78f01c8b63dc4e3cb2f630b1796ee93b6"),
      ],
    ],
    [
      ".github/workflows/ci.yml",
      "github-ci.yml",
      [
        pin(".github/workflows/ci.yml", "workflow", 11, "docker.io/library/node", "20.15-bookworm", "sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446", "node:20.15-bookworm@sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446"),
        pin(".github/workflows/ci.yml", "workflow", 15, "docker.io/library/redis", "7.2-alpine", "sha256:49d9cc7d33242e17bc53aff64a1703c4911bd7b85c39645165b8b34c320318e3", "redis:7.2-alpine@sha256:49d9cc7d33242e17bc53aff64a1703c4911bd7b85c39645165b8b34c320318e3"),
        pin(".github/workflows/ci.yml", "workflow", 23, "docker.io/library/node", "20.15-bookworm", "sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446", "node:20.15-bookworm@sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446"),
        pin(".github/workflows/ci.yml", "workflow", 26, "docker.io/hadolint/hadolint", "v2.12.0", "sha256:aeb27eae3024b418e56e8f019f96d51b3a9c807828bc0b65fc1c600d24a325b5", "hadolint/hadolint:v2.12.0@sha256:aeb27eae3024b418e56e8f019f96d51b3a9c807828bc0b65fc1c600d24a325b5"),
      ],
    ],
  ])("the fixture %s (%s)", (path, name, pins) => {
    expect(findPins(path, fixture(name))).toEqual(pins);
  });

  it.each<[string, string, string, Pin[]]>([
    ["an empty Dockerfile", "Dockerfile", "", []],
    ["references without digests are not pins", "Dockerfile", lines("# syntax=docker/dockerfile:1", "FROM alpine:3.20", "COPY --from=busybox /bin/sh /sh"), []],
    [
      "stage names and scratch are never images, even named like one",
      "Dockerfile",
      lines(`FROM alpine:3.20@${OLD} AS alpine`, "FROM scratch", "COPY --from=alpine / /", "RUN --mount=from=0,target=/m true"),
      [pin("Dockerfile", "dockerfile", 1, "docker.io/library/alpine", "3.20", OLD, `alpine:3.20@${OLD}`)],
    ],
    [
      "a digest-only ARG default is reported on the ARG line",
      "Dockerfile",
      lines(`ARG ALPINE_DIGEST=${OLD}`, "", "FROM alpine:3.20@${ALPINE_DIGEST}"),
      [pin("Dockerfile", "dockerfile", 1, "docker.io/library/alpine", "3.20", OLD, `alpine:3.20@${OLD}`)],
    ],
    [
      "an ARG default used by two FROMs is one pin",
      "Dockerfile",
      lines(`ARG BASE=alpine@${OLD}`, "FROM ${BASE} AS one", "FROM ${BASE} AS two"),
      [pin("Dockerfile", "dockerfile", 1, "docker.io/library/alpine", null, OLD, `alpine@${OLD}`)],
    ],
    ["a digest assembled from two places is not a pin", "Dockerfile", lines(`ARG HEX=${HEX}`, "FROM alpine@sha256:${HEX}"), []],
    ["a digest from an ARG without a value is not a pin", "Dockerfile", "FROM alpine@${DIGEST}", []],
    [
      "a BOM and CRLF do not shift lines",
      "Dockerfile",
      `\uFEFF${crlf("# base", `FROM index.docker.io/library/alpine:3.20@${OLD}`, "")}`,
      [pin("Dockerfile", "dockerfile", 2, "docker.io/library/alpine", "3.20", OLD, `index.docker.io/library/alpine:3.20@${OLD}`)],
    ],
    [
      "a Kubernetes kind comes from apiVersion and kind",
      "deploy/app.yaml",
      lines("apiVersion: v1", "kind: Pod", "spec:", "  containers:", `    - {name: app, image: 'alpine@${OLD}'}`),
      [pin("deploy/app.yaml", "kubernetes", 5, "docker.io/library/alpine", null, OLD, `alpine@${OLD}`)],
    ],
    [
      "other YAML with image: is yaml",
      "ci/images.yaml",
      lines("tools:", "  lint:", `    image: >-`, `      alpine:3.20@${OLD}`),
      [pin("ci/images.yaml", "yaml", 4, "docker.io/library/alpine", "3.20", OLD, `alpine:3.20@${OLD}`)],
    ],
    ["a compose interpolation is not a reference", "compose.yaml", lines("services:", "  app:", "    image: ${REGISTRY}/app@${DIGEST}"), []],
    ["YAML that does not parse has no pins", "compose.yaml", lines("services:", "  app:", `    image: [alpine@${OLD}`), []],
    ["duplicate keys are a YAML error", "compose.yaml", lines("services:", "  app:", `    image: alpine@${OLD}`, `    image: alpine@${OLD}`), []],
    ["a Helm digest that is not a digest", "values.yaml", lines("image:", "  repository: alpine", "  tag: '3.20'", "  digest: sha256:abc"), []],
    ["an image: key that is not a reference", "values.yaml", lines("image:", "  pullPolicy: Always"), []],
    [
      "a Helm shape without a registry, its tag kept as text (3.10 is not 3.1)",
      "values.yaml",
      lines("image:", "  repository: python", "  tag: 3.10", `  digest: ${OLD}`),
      [pin("values.yaml", "helm-values", 4, "docker.io/library/python", "3.10", OLD, `python:3.10@${OLD}`)],
    ],
    ["a file of no known kind", "README.md", `FROM alpine@${OLD}`, []],
    ["a file of no known kind, with YAML in it", "notes.txt", `image: alpine@${OLD}`, []],
    ["blank lines before the first key count", "ci/images.yaml", `\n\nimage: alpine@${OLD}`, [pin("ci/images.yaml", "yaml", 3, "docker.io/library/alpine", null, OLD, `alpine@${OLD}`)]],
  ])("%s", (_, path, text, pins) => {
    expect(findPins(path, text)).toEqual(pins);
  });
});

describe("findPins tells a Kubernetes manifest by its top-level apiVersion and kind", () => {
  it.each<[string, string, string, PinFileKind]>([
    ["both", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "apiVersion: v1", "kind: Pod"), "kubernetes"],
    ["both, kind first", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "kind: Pod", "apiVersion: v1"), "kubernetes"],
    ["both, values aligned with spaces and tabs", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "apiVersion:   v1", "kind:\t\tPod"), "kubernetes"],
    ["apiVersion alone", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "apiVersion: v1"), "yaml"],
    ["kind alone", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "kind: Pod"), "yaml"],
    ["apiVersion nested, not top-level", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "kind: Pod", "template:", "  apiVersion: v1"), "yaml"],
    ["kind nested, not top-level", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "apiVersion: v1", "template:", "  kind: Pod"), "yaml"],
    ["an empty apiVersion", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "apiVersion:", "kind: Pod"), "yaml"],
    ["an empty kind", "deploy/pod.yaml", lines(`image: alpine@${OLD}`, "kind:", "apiVersion: v1"), "yaml"],
    ["a compose file stays compose", "compose.yaml", lines(`image: alpine@${OLD}`, "apiVersion: v1", "kind: Pod"), "compose"],
    ["Helm values stay helm-values", "values.yaml", lines(`image: alpine@${OLD}`, "apiVersion: v1", "kind: Pod"), "helm-values"],
  ])("%s → %s", (_, path, text, kind) => {
    expect(findPins(path, text)).toEqual<Pin[]>([{ path, line: 1, kind, name: "docker.io/library/alpine", tag: null, digest: OLD, text: `alpine@${OLD}` }]);
  });

  it("reads apiVersion on the first line after a byte-order mark as top-level", () => {
    const text = `\uFEFF${lines("apiVersion: v1", "kind: Pod", "spec:", "  containers:", `    - image: alpine@${OLD}`)}`;
    expect(findPins("pod.yaml", text)).toEqual<Pin[]>([{ path: "pod.yaml", line: 5, kind: "kubernetes", name: "docker.io/library/alpine", tag: null, digest: OLD, text: `alpine@${OLD}` }]);
  });
});

describe("bumpPins", () => {
  type Case = [title: string, path: string, input: string, target: BumpTarget, expected: string];

  /** The rewritten text; undefined when nothing matched. */
  const expectText = (path: string, input: string, bump: BumpTarget, pin = false): string | undefined =>
    bumpPins(path, input, bump, NEW, { pin })?.text;

  describe("Dockerfiles", () => {
    it.each<Case>([
      ["a tag and a digest", "Dockerfile", `FROM alpine:3.20@${OLD}`, ALPINE, `FROM alpine:3.20@${NEW}`],
      ["a digest only, with a stage name", "Dockerfile", `FROM alpine@${OLD} AS base`, ALPINE, `FROM alpine@${NEW} AS base`],
      ["library/ in the file, full name in the target", "Dockerfile", `FROM library/alpine:3.20@${OLD}`, target("docker.io/library/alpine"), `FROM library/alpine:3.20@${NEW}`],
      ["full name in the file, short name in the target", "Dockerfile", `FROM docker.io/library/alpine:3.20@${OLD}`, ALPINE, `FROM docker.io/library/alpine:3.20@${NEW}`],
      ["index.docker.io is Docker Hub", "Dockerfile", `FROM index.docker.io/library/alpine@${OLD}`, target("library/alpine"), `FROM index.docker.io/library/alpine@${NEW}`],
      [
        "a registry with a port, not confused with Docker Hub's image of the same path",
        "Dockerfile",
        lines(`FROM localhost:5000/team/alpine:3.20@${OLD} AS mirror`, `FROM team/alpine:3.20@${OLD}`),
        target("localhost:5000/team/alpine"),
        lines(`FROM localhost:5000/team/alpine:3.20@${NEW} AS mirror`, `FROM team/alpine:3.20@${OLD}`),
      ],
      [
        "an upper-case registry host keeps its case",
        "Dockerfile",
        `FROM Contoso.AzureCR.io/base/alpine:3.20@${OLD}`,
        target("contoso.azurecr.io/base/alpine"),
        `FROM Contoso.AzureCR.io/base/alpine:3.20@${NEW}`,
      ],
      [
        "the whole reference in an ARG default",
        "Dockerfile",
        lines("# The base, pinned.", `ARG BASE=alpine:3.20@${OLD}`, "FROM ${BASE} AS build", "RUN make"),
        ALPINE,
        lines("# The base, pinned.", `ARG BASE=alpine:3.20@${NEW}`, "FROM ${BASE} AS build", "RUN make"),
      ],
      [
        "the digest alone in an ARG default, with a tag in the FROM",
        "Dockerfile",
        lines("ARG ALPINE_VERSION=3.20", `ARG ALPINE_DIGEST=${OLD}`, "FROM alpine:${ALPINE_VERSION}@${ALPINE_DIGEST}"),
        target("alpine", "3.20"),
        lines("ARG ALPINE_VERSION=3.20", `ARG ALPINE_DIGEST=${NEW}`, "FROM alpine:${ALPINE_VERSION}@${ALPINE_DIGEST}"),
      ],
      [
        "a quoted ARG default keeps its quotes",
        "Dockerfile",
        lines(`ARG BASE="alpine:3.20@${OLD}"`, "FROM $BASE"),
        ALPINE,
        lines(`ARG BASE="alpine:3.20@${NEW}"`, "FROM $BASE"),
      ],
      [
        "an ARG default used by two stages changes once",
        "Dockerfile",
        lines(`ARG BASE=alpine@${OLD}`, "FROM ${BASE} AS one", "FROM ${BASE} AS two"),
        ALPINE,
        lines(`ARG BASE=alpine@${NEW}`, "FROM ${BASE} AS one", "FROM ${BASE} AS two"),
      ],
      [
        "a ${VAR:-default} default in the FROM itself",
        "Dockerfile",
        lines("ARG BASE", `FROM \${BASE:-alpine:3.20@${OLD}}`),
        ALPINE,
        lines("ARG BASE", `FROM \${BASE:-alpine:3.20@${NEW}}`),
      ],
      [
        "COPY --from= an image",
        "Dockerfile",
        lines("FROM scratch", `COPY --from=alpine:3.20@${OLD} /etc/ssl/certs /etc/ssl/certs`),
        ALPINE,
        lines("FROM scratch", `COPY --from=alpine:3.20@${NEW} /etc/ssl/certs /etc/ssl/certs`),
      ],
      [
        "COPY --from= through a stage ARG",
        "Dockerfile",
        lines("FROM scratch", `ARG CERTS=alpine@${OLD}`, "COPY --from=${CERTS} /etc/ssl/certs /etc/ssl/certs"),
        ALPINE,
        lines("FROM scratch", `ARG CERTS=alpine@${NEW}`, "COPY --from=${CERTS} /etc/ssl/certs /etc/ssl/certs"),
      ],
      [
        "RUN --mount from= in a CSV list",
        "Dockerfile",
        lines("FROM golang:1.22", `RUN --mount=type=bind,from=alpine:3.20@${OLD},source=/bin,target=/alpine ls /alpine`),
        ALPINE,
        lines("FROM golang:1.22", `RUN --mount=type=bind,from=alpine:3.20@${NEW},source=/bin,target=/alpine ls /alpine`),
      ],
      [
        "RUN --mount with a quoted value",
        "Dockerfile",
        lines("FROM golang:1.22", `RUN --mount="type=bind,from=alpine@${OLD},target=/m" ls /m`),
        ALPINE,
        lines("FROM golang:1.22", `RUN --mount="type=bind,from=alpine@${NEW},target=/m" ls /m`),
      ],
      [
        "the syntax directive",
        "Dockerfile",
        lines(`# syntax=docker/dockerfile:1.7@${OLD}`, `FROM alpine:3.20@${OLD}`),
        target("docker/dockerfile"),
        lines(`# syntax=docker/dockerfile:1.7@${NEW}`, `FROM alpine:3.20@${OLD}`),
      ],
      [
        "a stage named like the image is not touched",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OLD} AS alpine`, "RUN apk add ca-certificates", "FROM busybox:1.36", "COPY --from=alpine /etc/ssl /etc/ssl"),
        ALPINE,
        lines(`FROM alpine:3.20@${NEW} AS alpine`, "RUN apk add ca-certificates", "FROM busybox:1.36", "COPY --from=alpine /etc/ssl /etc/ssl"),
      ],
      [
        "two images with the same digest text: only the named one changes",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OLD} AS build`, `FROM busybox:1.36@${OLD}`),
        ALPINE,
        lines(`FROM alpine:3.20@${NEW} AS build`, `FROM busybox:1.36@${OLD}`),
      ],
      [
        "the same image twice",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OLD} AS build`, "RUN make", `FROM alpine:3.20@${OLD}`, "COPY --from=build /out /out"),
        ALPINE,
        lines(`FROM alpine:3.20@${NEW} AS build`, "RUN make", `FROM alpine:3.20@${NEW}`, "COPY --from=build /out /out"),
      ],
      [
        "a target tag leaves other tags alone",
        "Dockerfile",
        lines(`FROM alpine:3.19@${OLD} AS old`, `FROM alpine:3.20@${OLD}`),
        target("alpine", "3.20"),
        lines(`FROM alpine:3.19@${OLD} AS old`, `FROM alpine:3.20@${NEW}`),
      ],
      [
        "a target digest leaves other digests alone",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OTHER} AS arm`, `FROM alpine:3.20@${OLD}`),
        ALPINE,
        lines(`FROM alpine:3.20@${OTHER} AS arm`, `FROM alpine:3.20@${NEW}`),
      ],
      [
        "no target digest: every digest of the image moves",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OTHER} AS arm`, `FROM alpine:3.20@${OLD}`),
        target("alpine", null, null),
        lines(`FROM alpine:3.20@${NEW} AS arm`, `FROM alpine:3.20@${NEW}`),
      ],
      [
        "CRLF line endings and a BOM are kept",
        "Dockerfile",
        `\uFEFF${crlf("# escape=\\", "", `FROM --platform=$BUILDPLATFORM alpine:3.20@${OLD} AS build`, "RUN echo done", "")}`,
        ALPINE,
        `\uFEFF${crlf("# escape=\\", "", `FROM --platform=$BUILDPLATFORM alpine:3.20@${NEW} AS build`, "RUN echo done", "")}`,
      ],
      [
        "a backtick escape with the reference on a continuation line",
        "Containerfile",
        crlf("# escape=`", "FROM `", `    mcr.microsoft.com/windows/nanoserver:ltsc2022@${OLD} \``, "    AS runtime", "COPY app C:\\app", ""),
        target("mcr.microsoft.com/windows/nanoserver"),
        crlf("# escape=`", "FROM `", `    mcr.microsoft.com/windows/nanoserver:ltsc2022@${NEW} \``, "    AS runtime", "COPY app C:\\app", ""),
      ],
      [
        "comments inside a continuation are kept",
        "Dockerfile",
        lines("FROM \\", "# the pinned base", `    alpine:3.20@${OLD} \\`, "    AS build"),
        ALPINE,
        lines("FROM \\", "# the pinned base", `    alpine:3.20@${NEW} \\`, "    AS build"),
      ],
      [
        "a heredoc that mentions the image is not a reference",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OLD}`, "RUN <<EOF", `echo alpine:3.20@${OLD}`, "EOF"),
        ALPINE,
        lines(`FROM alpine:3.20@${NEW}`, "RUN <<EOF", `echo alpine:3.20@${OLD}`, "EOF"),
      ],
    ])("%s", (_, path, input, bump, expected) => {
      expect(expectText(path, input, bump)).toEqual(expected);
    });

    it.each<Case>([
      ["a tag", "Dockerfile", "FROM alpine:3.20", target("alpine", "3.20", null), `FROM alpine:3.20@${NEW}`],
      ["before the stage name", "Dockerfile", "FROM alpine:3.20 AS build", target("alpine", "3.20", null), `FROM alpine:3.20@${NEW} AS build`],
      ["a bare name is latest", "Dockerfile", "FROM alpine", target("alpine", "latest", null), `FROM alpine@${NEW}`],
      ["in the ARG default that holds the reference", "Dockerfile", lines("ARG BASE=alpine:3.20", "FROM $BASE"), target("alpine", "3.20", null), lines(`ARG BASE=alpine:3.20@${NEW}`, "FROM $BASE")],
      [
        "after a FROM word assembled from ARGs, not inside the ARG",
        "Dockerfile",
        lines("ARG VERSION=3.20", "FROM alpine:${VERSION} AS build"),
        target("alpine", "3.20", null),
        lines("ARG VERSION=3.20", `FROM alpine:\${VERSION}@${NEW} AS build`),
      ],
      ["COPY --from=", "Dockerfile", lines("FROM scratch", "COPY --from=alpine:3.20 /a /b"), target("alpine", null, null), lines("FROM scratch", `COPY --from=alpine:3.20@${NEW} /a /b`)],
      [
        "RUN --mount from= in the middle of the list",
        "Dockerfile",
        lines("FROM golang:1.22", "RUN --mount=type=bind,from=alpine:3.20,target=/m ls"),
        target("alpine", null, null),
        lines("FROM golang:1.22", `RUN --mount=type=bind,from=alpine:3.20@${NEW},target=/m ls`),
      ],
      ["the syntax directive", "Dockerfile", lines("# syntax=docker/dockerfile:1", "FROM alpine"), target("docker/dockerfile", "1", null), lines(`# syntax=docker/dockerfile:1@${NEW}`, "FROM alpine")],
      [
        "a stage named like the image is not pinned",
        "Dockerfile",
        lines("FROM alpine:3.20 AS alpine", "FROM alpine", "COPY --from=alpine / /"),
        target("alpine", null, null),
        lines(`FROM alpine:3.20@${NEW} AS alpine`, "FROM alpine", "COPY --from=alpine / /"),
      ],
      [
        "a pinned reference moves and an unpinned one gets pinned",
        "Dockerfile",
        lines(`FROM alpine:3.20@${OLD} AS build`, "FROM alpine:3.20", `FROM alpine:3.20@${OTHER}`),
        target("alpine", "3.20", OLD),
        lines(`FROM alpine:3.20@${NEW} AS build`, `FROM alpine:3.20@${NEW}`, `FROM alpine:3.20@${OTHER}`),
      ],
    ])("pin: %s", (_, path, input, bump, expected) => {
      expect(expectText(path, input, bump, true)).toEqual(expected);
    });
  });

  describe("YAML", () => {
    it.each<Case>([
      [
        "a compose service, with its comment",
        "docker-compose.yml",
        lines("services:", "  app:", `    image: alpine:3.20@${OLD} # pinned by Ripple`, "    restart: always", ""),
        ALPINE,
        lines("services:", "  app:", `    image: alpine:3.20@${NEW} # pinned by Ripple`, "    restart: always", ""),
      ],
      [
        "double- and single-quoted scalars keep their quotes",
        "compose.yaml",
        lines("services:", "  a:", `    image: "alpine:3.20@${OLD}"`, "  b:", `    image: 'docker.io/library/alpine@${OLD}'`),
        ALPINE,
        lines("services:", "  a:", `    image: "alpine:3.20@${NEW}"`, "  b:", `    image: 'docker.io/library/alpine@${NEW}'`),
      ],
      [
        "a double-quoted scalar with an escape elsewhere in it",
        "compose.yaml",
        lines("services:", "  a:", `    image: "alpine:3.20\\u0040${OLD}"`),
        ALPINE,
        lines("services:", "  a:", `    image: "alpine:3.20\\u0040${NEW}"`),
      ],
      [
        "a folded block scalar",
        "compose.yaml",
        lines("services:", "  a:", "    image: >-", `      alpine:3.20@${OLD}`, "    init: true"),
        ALPINE,
        lines("services:", "  a:", "    image: >-", `      alpine:3.20@${NEW}`, "    init: true"),
      ],
      [
        "an anchor used by two services changes once, where it is written",
        "compose.yaml",
        lines(`x-base: &base alpine@${OLD}`, "services:", "  a:", "    image: *base", "  b:", "    image: *base"),
        ALPINE,
        lines(`x-base: &base alpine@${NEW}`, "services:", "  a:", "    image: *base", "  b:", "    image: *base"),
      ],
      [
        "two images with the same digest text: only the named one changes",
        "compose.yaml",
        lines("services:", "  a:", `    image: alpine:3.20@${OLD}`, "  b:", `    image: busybox:1.36@${OLD}`),
        ALPINE,
        lines("services:", "  a:", `    image: alpine:3.20@${NEW}`, "  b:", `    image: busybox:1.36@${OLD}`),
      ],
      [
        "Kubernetes documents separated by ---, containers and initContainers, flow style",
        "deploy/jobs.yaml",
        lines(
          "apiVersion: batch/v1",
          "kind: Job",
          "spec:",
          "  template:",
          "    spec:",
          "      initContainers:",
          `        - {name: wait, image: "alpine:3.20@${OLD}"}`,
          "      containers:",
          "        - name: job",
          `          image: contoso.azurecr.io/jobs/run:1@${OLD}`,
          "---",
          "apiVersion: v1",
          "kind: Pod",
          "spec:",
          "  containers:",
          "    - name: shell",
          `      image: alpine:3.20@${OLD}`,
          "",
        ),
        target("alpine", "3.20"),
        lines(
          "apiVersion: batch/v1",
          "kind: Job",
          "spec:",
          "  template:",
          "    spec:",
          "      initContainers:",
          `        - {name: wait, image: "alpine:3.20@${NEW}"}`,
          "      containers:",
          "        - name: job",
          `          image: contoso.azurecr.io/jobs/run:1@${OLD}`,
          "---",
          "apiVersion: v1",
          "kind: Pod",
          "spec:",
          "  containers:",
          "    - name: shell",
          `      image: alpine:3.20@${NEW}`,
          "",
        ),
      ],
      [
        "CRLF YAML",
        "pod.yaml",
        crlf("apiVersion: v1", "kind: Pod", "spec:", "  containers:", "    - name: app", `      image: alpine:3.20@${OLD}`, ""),
        ALPINE,
        crlf("apiVersion: v1", "kind: Pod", "spec:", "  containers:", "    - name: app", `      image: alpine:3.20@${NEW}`, ""),
      ],
      [
        "a Helm digest field, plain",
        "values.yaml",
        lines("image:", "  registry: docker.io", "  repository: library/alpine", '  tag: "3.20"', `  digest: ${OLD}  # keep in sync`),
        target("alpine", "3.20"),
        lines("image:", "  registry: docker.io", "  repository: library/alpine", '  tag: "3.20"', `  digest: ${NEW}  # keep in sync`),
      ],
      [
        "a Helm tag that carries the digest",
        "values-prod.yaml",
        lines("api:", "  image:", "    repository: contoso.azurecr.io/shop/api", `    tag: '2.3.1@${OLD}'`),
        target("contoso.azurecr.io/shop/api", "2.3.1"),
        lines("api:", "  image:", "    repository: contoso.azurecr.io/shop/api", `    tag: '2.3.1@${NEW}'`),
      ],
      [
        "a Helm image string next to a Helm shape of another image",
        "values.yaml",
        lines("image:", "  repository: busybox", `  digest: ${OLD}`, "sidecar:", `  image: "alpine:3.20@${OLD}"`),
        ALPINE,
        lines("image:", "  repository: busybox", `  digest: ${OLD}`, "sidecar:", `  image: "alpine:3.20@${NEW}"`),
      ],
      [
        "a workflow's container and service images",
        ".github/workflows/test.yml",
        lines(
          "jobs:",
          "  test:",
          "    runs-on: ubuntu-latest",
          `    container: alpine:3.20@${OLD}`,
          "    services:",
          "      cache:",
          `        image: alpine:3.20@${OLD}`,
          "    steps:",
          `      - uses: docker://alpine:3.20@${OLD}`,
          "        with:",
          "          args: echo hi",
        ),
        ALPINE,
        lines(
          "jobs:",
          "  test:",
          "    runs-on: ubuntu-latest",
          `    container: alpine:3.20@${NEW}`,
          "    services:",
          "      cache:",
          `        image: alpine:3.20@${NEW}`,
          "    steps:",
          `      - uses: docker://alpine:3.20@${NEW}`,
          "        with:",
          "          args: echo hi",
        ),
      ],
      [
        "container: is only an image in a workflow",
        "deploy/app.yaml",
        lines(`container: alpine@${OLD}`, `image: alpine@${OLD}`),
        ALPINE,
        lines(`container: alpine@${OLD}`, `image: alpine@${NEW}`),
      ],
    ])("%s", (_, path, input, bump, expected) => {
      expect(expectText(path, input, bump)).toEqual(expected);
    });

    it.each<Case>([
      ["a plain image", "compose.yaml", lines("services:", "  a:", "    image: alpine:3.20"), target("alpine", "3.20", null), lines("services:", "  a:", `    image: alpine:3.20@${NEW}`)],
      ["a quoted image", "compose.yaml", lines("services:", "  a:", "    image: 'alpine:3.20'  # base"), target("alpine", "3.20", null), lines("services:", "  a:", `    image: 'alpine:3.20@${NEW}'  # base`)],
      [
        'an empty quoted Helm digest: ""',
        "values.yaml",
        lines("image:", "  repository: alpine", "  tag: 3.20", '  digest: ""', "  pullPolicy: IfNotPresent"),
        target("alpine", "3.20", null),
        lines("image:", "  repository: alpine", "  tag: 3.20", `  digest: "${NEW}"`, "  pullPolicy: IfNotPresent"),
      ],
      [
        "an empty Helm digest: with nothing after the colon, CRLF",
        "values.yaml",
        crlf("image:", "  repository: alpine", "  tag: 3.20", "  digest:", ""),
        target("alpine", "3.20", null),
        crlf("image:", "  repository: alpine", "  tag: 3.20", `  digest: ${NEW}`, ""),
      ],
      [
        "a null Helm digest: ~",
        "values.yaml",
        lines("image:", "  repository: alpine", "  tag: 3.20", "  digest: ~"),
        target("alpine", null, null),
        lines("image:", "  repository: alpine", "  tag: 3.20", `  digest: ${NEW}`),
      ],
      [
        "a Helm shape without a digest field gets the digest in its tag",
        "values.yaml",
        lines("image:", "  repository: alpine", '  tag: "3.20"'),
        target("alpine", "3.20", null),
        lines("image:", "  repository: alpine", `  tag: "3.20@${NEW}"`),
      ],
      [
        "a workflow container",
        ".github/workflows/ci.yaml",
        lines("jobs:", "  build:", "    container: alpine:3.20", "    steps: []"),
        target("alpine", null, null),
        lines("jobs:", "  build:", `    container: alpine:3.20@${NEW}`, "    steps: []"),
      ],
    ])("pin: %s", (_, path, input, bump, expected) => {
      expect(expectText(path, input, bump, true)).toEqual(expected);
    });
  });

  it.each<[string, string, string, BumpTarget, boolean]>([
    ["no reference to the image", "Dockerfile", `FROM busybox@${OLD}`, ALPINE, false],
    ["another tag", "Dockerfile", `FROM alpine:3.19@${OLD}`, target("alpine", "3.20"), false],
    ["a digest-only reference when a tag is required", "Dockerfile", `FROM alpine@${OLD}`, target("alpine", "3.20"), false],
    ["another digest", "Dockerfile", `FROM alpine:3.20@${OTHER}`, ALPINE, false],
    ["no digest and no pin", "Dockerfile", "FROM alpine:3.20", target("alpine", null, null), false],
    ["a registry of another host", "Dockerfile", `FROM contoso.azurecr.io/alpine@${OLD}`, ALPINE, false],
    ["only a stage of that name", "Dockerfile", lines(`FROM busybox@${OLD} AS alpine`, "COPY --from=alpine / /"), ALPINE, true],
    ["a digest assembled from two places", "Dockerfile", lines(`ARG HEX=${HEX}`, "FROM alpine@sha256:${HEX}"), ALPINE, true],
    ["a digest from an ARG without a value", "Dockerfile", "FROM alpine@${DIGEST}", ALPINE, true],
    ["a Helm shape without tag or digest, with pin", "values.yaml", lines("image:", "  repository: alpine"), target("alpine", null, null), true],
    ["a quoted image padded with spaces, with pin", "compose.yaml", lines("services:", "  app:", "    image: ' alpine:3.20 '"), target("alpine", null, null), true],
    ["malformed YAML", "compose.yaml", lines("services:", "  app:", `    image: [alpine@${OLD}`), ALPINE, true],
    ["a file of no known kind", "notes.txt", `FROM alpine@${OLD}`, ALPINE, true],
    ["a file of no known kind, with YAML in it", "notes.txt", `image: alpine@${OLD}`, ALPINE, true],
    ["a target name that is not an image name", "Dockerfile", `FROM alpine@${OLD}`, target("Alpine"), true],
  ])("null for %s", (_, path, input, bump, pin) => {
    expect(bumpPins(path, input, bump, NEW, { pin })).toBeNull();
  });

  it.each<[string, BumpTarget]>([
    ["any old digest", target("alpine", "3.20", null)],
    ["the old digest it had", target("alpine", "3.20", OLD)],
  ])("reports no changes, not null, when the reference already has the new digest (target: %s)", (_, bump) => {
    const text = lines(`FROM alpine:3.20@${NEW}`, "RUN true");
    expect(bumpPins("Dockerfile", text, bump, NEW)).toEqual({ text, changes: [] });
  });

  it("reports a change on the first line of a file with a BOM and CRLF without either", () => {
    const input = `\uFEFF${crlf(`FROM alpine:3.20@${OLD}`, "RUN true", "")}`;
    expect(bumpPins("Dockerfile", input, ALPINE, NEW)).toEqual<BumpResult>({
      text: `\uFEFF${crlf(`FROM alpine:3.20@${NEW}`, "RUN true", "")}`,
      changes: [{ line: 1, before: `FROM alpine:3.20@${OLD}`, after: `FROM alpine:3.20@${NEW}` }],
    });
  });

  it("bumping twice changes the file once", () => {
    const input = lines("services:", "  a:", `    image: alpine@${OLD}`, "  b:", `    image: alpine@${OLD}`);
    const once = bumpPins("compose.yaml", input, ALPINE, NEW);
    const twice = once === null ? null : bumpPins("compose.yaml", once.text, ALPINE, NEW);
    expect([once, twice]).toEqual([
      {
        text: lines("services:", "  a:", `    image: alpine@${NEW}`, "  b:", `    image: alpine@${NEW}`),
        changes: [
          { line: 3, before: `    image: alpine@${OLD}`, after: `    image: alpine@${NEW}` },
          { line: 5, before: `    image: alpine@${OLD}`, after: `    image: alpine@${NEW}` },
        ],
      },
      { text: lines("services:", "  a:", `    image: alpine@${NEW}`, "  b:", `    image: alpine@${NEW}`), changes: [] },
    ]);
  });

  it("throws a RangeError for a new digest that is not a digest", () => {
    expect(() => bumpPins("Dockerfile", `FROM alpine@${OLD}`, ALPINE, "sha256:abc")).toThrow(new RangeError('"sha256:abc" is not a digest'));
  });

  it.each<[string, string, BumpTarget, BumpChange[]]>([
    [
      "go-service.Dockerfile",
      "go-service.Dockerfile",
      target("golang", "1.22.5-alpine3.20", "sha256:d754ed9f64ac293b10268157f283ee23256fb32a4f8dedb25c8446ca5bcb0bb3"),
      [
        {
          line: 5,
          before: "ARG GO_IMAGE=golang:1.22.5-alpine3.20@sha256:d754ed9f64ac293b10268157f283ee23256fb32a4f8dedb25c8446ca5bcb0bb3",
          after: `ARG GO_IMAGE=golang:1.22.5-alpine3.20@${NEW}`,
        },
      ],
    ],
    [
      "go-service.Dockerfile",
      "go-service.Dockerfile",
      target("gcr.io/distroless/static-debian12", "nonroot", null),
      [{ line: 6, before: "ARG RUNTIME_DIGEST=sha256:ea3e6869841f102bdb95fc7358ad94097770136193d88ac06a56a1c5a318d613", after: `ARG RUNTIME_DIGEST=${NEW}` }],
    ],
    [
      "go-service.Dockerfile",
      "go-service.Dockerfile",
      target("docker.io/library/busybox", "1.36", OTHER),
      [
        {
          line: 23,
          before: `RUN --mount=type=bind,from=busybox:1.36@${OTHER},source=/bin/busybox,target=/usr/local/bin/busybox \\`,
          after: `RUN --mount=type=bind,from=busybox:1.36@${NEW},source=/bin/busybox,target=/usr/local/bin/busybox \\`,
        },
      ],
    ],
    [
      "windows-crlf.Dockerfile",
      "windows-crlf.Dockerfile",
      target("mcr.microsoft.com/windows/servercore", "ltsc2022", null),
      [
        {
          line: 13,
          before: "    mcr.microsoft.com/windows/servercore:ltsc2022@sha256:327c9b917bd132cdd99bdd8ab5cb7437376791131e18be94de73068c0729f50c `",
          after: `    mcr.microsoft.com/windows/servercore:ltsc2022@${NEW} \``,
        },
      ],
    ],
    [
      "docker-compose.yml",
      "docker-compose.yml",
      target("redis", "7.2-alpine", null),
      [
        {
          line: 4,
          before: 'x-redis-image: &redis-image "redis:7.2-alpine@sha256:34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03"',
          after: `x-redis-image: &redis-image "redis:7.2-alpine@${NEW}"`,
        },
      ],
    ],
    [
      "docker-compose.yml",
      "docker-compose.yml",
      target("nginx", null, null),
      [{ line: 23, before: "    image: docker.io/library/nginx@sha256:5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65", after: `    image: docker.io/library/nginx@${NEW}` }],
    ],
    [
      "k8s-api.yaml",
      "k8s-api.yaml",
      target("contoso.azurecr.io/shop/api", "2.3.1", "sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333"),
      [
        { line: 19, before: "          image: contoso.azurecr.io/shop/api:2.3.1@sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333", after: `          image: contoso.azurecr.io/shop/api:2.3.1@${NEW}` },
        { line: 23, before: '          image: "contoso.azurecr.io/shop/api:2.3.1@sha256:a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333"', after: `          image: "contoso.azurecr.io/shop/api:2.3.1@${NEW}"` },
      ],
    ],
    [
      "debug-pod-crlf.yaml",
      "debug-pod-crlf.yaml",
      target("busybox", null, OTHER),
      [
        {
          line: 11,
          before: `      image: 'busybox@${OTHER}' # added by kubectl debug`,
          after: `      image: 'busybox@${NEW}' # added by kubectl debug`,
        },
      ],
    ],
    [
      "values.yaml",
      "values.yaml",
      target("docker.io/bitnami/redis", "7.2.5-debian-12-r0", null),
      [{ line: 11, before: '  digest: "sha256:7f85fa5bb6b646ebde90970745cd013206a3852b510df22d145e0ca8c16fffae"', after: `  digest: "${NEW}"` }],
    ],
    [
      "values.yaml",
      "values.yaml",
      target("bitnami/redis-exporter", null, null),
      [{ line: 19, before: "    tag: '1.61.0@sha256:29b220d49cd6a1ed8396172f46fce4211ca0fa0d9926dee6710a289b6bd7a08e'", after: `    tag: '1.61.0@${NEW}'` }],
    ],
    [
      "values.yaml",
      "values.yaml",
      target("bitnami/os-shell", "12-debian-12-r24", null),
      [{ line: 30, before: '    digest: ""', after: `    digest: "${NEW}"` }],
    ],
    [
      ".github/workflows/ci.yml",
      "github-ci.yml",
      target("node", "20.15-bookworm", null),
      [
        { line: 11, before: "      image: node:20.15-bookworm@sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446", after: `      image: node:20.15-bookworm@${NEW}` },
        { line: 23, before: "    container: node:20.15-bookworm@sha256:545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446", after: `    container: node:20.15-bookworm@${NEW}` },
      ],
    ],
    [
      ".github/workflows/ci.yml",
      "github-ci.yml",
      target("hadolint/hadolint", "v2.12.0", null),
      [
        {
          line: 26,
          before: "      - uses: docker://hadolint/hadolint:v2.12.0@sha256:aeb27eae3024b418e56e8f019f96d51b3a9c807828bc0b65fc1c600d24a325b5",
          after: `      - uses: docker://hadolint/hadolint:v2.12.0@${NEW}`,
        },
      ],
    ],
  ])("the fixture %s (%s) for %o: only the changed lines differ", (path, name, bump, changes) => {
    const input = fixture(name);
    // Pinning the os-shell shape needs `pin`; for every other case `pin` changes nothing.
    expect(bumpPins(path, input, bump, NEW, { pin: true })).toEqual<BumpResult>({ text: withChanges(input, changes), changes });
  });
});

describe("bumpPins with an untagged target", () => {
  const UNTAGGED: BumpTarget = { name: "node", tag: null, digest: null, untagged: true };

  it.each<[string, string, string, boolean, string | null]>([
    [
      "changes the reference written without a tag, not the pinned stage with a tag",
      "Dockerfile",
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${OTHER}`),
      false,
      lines(`FROM node:18@${OLD} AS legacy`, `FROM node@${NEW}`),
    ],
    ["leaves node:latest written out alone", "Dockerfile", `FROM node:latest@${OLD}`, false, null],
    [
      "with pin, pins the bare name and not the tagged one",
      "Dockerfile",
      lines("FROM node:20 AS build", "FROM node"),
      true,
      lines("FROM node:20 AS build", `FROM node@${NEW}`),
    ],
    [
      "a Helm shape without a tag",
      "values.yaml",
      lines("a:", "  image:", "    repository: node", `    digest: ${OLD}`, "b:", "  image:", "    repository: node", '    tag: "20"', `    digest: ${OLD}`),
      false,
      lines("a:", "  image:", "    repository: node", `    digest: ${NEW}`, "b:", "  image:", "    repository: node", '    tag: "20"', `    digest: ${OLD}`),
    ],
    [
      "docker:// in a workflow",
      ".github/workflows/ci.yml",
      lines("jobs:", "  a:", "    steps:", `      - uses: docker://node@${OLD}`, `      - uses: docker://node:20@${OLD}`),
      false,
      lines("jobs:", "  a:", "    steps:", `      - uses: docker://node@${NEW}`, `      - uses: docker://node:20@${OLD}`),
    ],
  ])("%s", (_, path, input, pin, expected) => {
    expect(bumpPins(path, input, UNTAGGED, NEW, { pin })?.text ?? null).toEqual(expected);
  });
});

describe("bumpPins with a format", () => {
  it.each<[string, string, string, "dockerfile" | "yaml", BumpTarget, string]>([
    ["any file name read as a Dockerfile", "build/base.df", `FROM alpine:3.20@${OLD}`, "dockerfile", ALPINE, `FROM alpine:3.20@${NEW}`],
    ["a YAML file read as a Dockerfile", "Dockerfile.yaml", `FROM alpine:3.20@${OLD}`, "dockerfile", ALPINE, `FROM alpine:3.20@${NEW}`],
    ["any file name read as YAML", "deploy/app.tpl", lines("spec:", "  containers:", `    - image: alpine:3.20@${OLD}`), "yaml", ALPINE, lines("spec:", "  containers:", `    - image: alpine:3.20@${NEW}`)],
    ["a Dockerfile name read as YAML", "Dockerfile.compose", lines("services:", "  a:", `    image: alpine@${OLD}`), "yaml", ALPINE, lines("services:", "  a:", `    image: alpine@${NEW}`)],
    [
      "a workflow read as YAML keeps its workflow keys",
      ".github/workflows/ci.yml",
      lines("jobs:", "  a:", `    container: alpine@${OLD}`),
      "yaml",
      ALPINE,
      lines("jobs:", "  a:", `    container: alpine@${NEW}`),
    ],
  ])("%s", (_, path, input, format, bump, expected) => {
    expect(bumpPins(path, input, bump, NEW, { format })?.text).toEqual(expected);
  });

  it.each<[string, string, "dockerfile" | "yaml", PinFileKind]>([
    ["base.df", `FROM alpine:3.20@${OLD}`, "dockerfile", "dockerfile"],
    ["deploy/app.tpl", `image: alpine:3.20@${OLD}`, "yaml", "yaml"],
    ["Dockerfile.compose", `image: alpine:3.20@${OLD}`, "yaml", "yaml"],
  ])("finds the pins of %s read as %s", (path, text, format, kind) => {
    expect(findPins(path, text, { format })).toEqual<Pin[]>([{ path, line: 1, kind, name: "docker.io/library/alpine", tag: "3.20", digest: OLD, text: `alpine:3.20@${OLD}` }]);
  });
});

describe("bumpPins through pattern operators", () => {
  it.each<[string, string, string]>([
    ["a prefix removed", lines(`ARG BASE=docker.io/library/alpine:3.20@${OLD}`, "FROM ${BASE#docker.io/}"), lines(`ARG BASE=docker.io/library/alpine:3.20@${NEW}`, "FROM ${BASE#docker.io/}")],
    ["a replacement before the digest", lines(`ARG BASE=alpine_3.20@${OLD}`, "FROM ${BASE/_/:}"), lines(`ARG BASE=alpine_3.20@${NEW}`, "FROM ${BASE/_/:}")],
  ])("rewrites the ARG default the digest was read from: %s", (_, input, expected) => {
    expect(bumpPins("Dockerfile", input, ALPINE, NEW)?.text).toEqual(expected);
  });
});
