import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { extractImages, finalBaseImage, locateImages, type ExtractedImage, type ImageInstruction, type LocatedImage, type SourceSpan } from "../../../shared/domain/dockerfile.js";

const DIGEST = "sha256:0a5b1e3a8f7f2b1c4d9e6f00112233445566778899aabbccddeeff0011223344";
const SYNTAX_DIGEST = "sha256:a57df69d0ea827fb7266491f2813635de6f17269be881f696fbfdf2d83dda33e";

type Where = { platform?: string | null; stage?: string | null };

/** A resolved reference, written out field by field so the expectation never goes through parseImageRef. */
function image(line: number, instruction: ImageInstruction, name: string, tag: string | null, digest: string | null = null, where: Where = {}): ExtractedImage {
  return { name, tag, digest, platform: where.platform ?? null, line, instruction, stage: where.stage ?? null };
}

function unresolved(line: number, instruction: ImageInstruction, raw: string, where: Where = {}): ExtractedImage {
  return { name: "", tag: null, digest: null, platform: where.platform ?? null, line, instruction, stage: where.stage ?? null, unresolved: true, raw };
}

/** Joins lines with `\n`, so a case reads like the file it stands for. */
function lines(...text: string[]): string {
  return text.join("\n");
}

describe("extractImages", () => {
  it.each<[string, string, ExtractedImage[]]>([
    ["an empty file", "", []],
    ["only comments and blank lines", lines("# nothing here", "", "   # indented comment"), []],

    // Plain references
    ["a Docker Hub short name defaults to latest", "FROM alpine", [image(1, "FROM", "docker.io/library/alpine", "latest")]],
    ["a tag", "FROM alpine:3.20", [image(1, "FROM", "docker.io/library/alpine", "3.20")]],
    ["a digest without a tag", `FROM alpine@${DIGEST}`, [image(1, "FROM", "docker.io/library/alpine", null, DIGEST)]],
    ["a tag and a digest", `FROM alpine:3.20@${DIGEST}`, [image(1, "FROM", "docker.io/library/alpine", "3.20", DIGEST)]],
    ["a Docker Hub user image", "FROM bitnami/redis:7.2", [image(1, "FROM", "docker.io/bitnami/redis", "7.2")]],
    ["localhost with a port", "FROM localhost:5000/x:1", [image(1, "FROM", "localhost:5000/x", "1")]],
    ["an IP registry with a port and a nested path", "FROM 127.0.0.1:5000/team/base", [image(1, "FROM", "127.0.0.1:5000/team/base", "latest")]],
    ["an upper-case registry host is lowercased", "FROM Contoso.AzureCR.io/apps/api:2", [image(1, "FROM", "contoso.azurecr.io/apps/api", "2")]],
    ["index.docker.io is docker.io", "FROM index.docker.io/library/debian:12", [image(1, "FROM", "docker.io/library/debian", "12")]],
    ["instructions are case-insensitive", "from alpine:3.20 as Build", [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "build" })]],
    ["leading white space before an instruction", "   FROM alpine:3.20", [image(1, "FROM", "docker.io/library/alpine", "3.20")]],
    ["tabs separate the words of an instruction", "FROM\talpine:3.20\tAS\tbuild", [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "build" })]],
    ["a carriage return inside a line separates words, as any white space", "FROM alpine:3.20\rAS build", [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "build" })]],
    ["a file that starts with a blank line", lines("", "FROM alpine"), [image(2, "FROM", "docker.io/library/alpine", "latest")]],
    ["an invalid reference is unresolved, not guessed", "FROM Alpine:3.20", [unresolved(1, "FROM", "Alpine:3.20")]],

    // Global ARGs and substitution
    [
      "${VAR} and $VAR from global ARG defaults",
      lines("ARG BASE=alpine", "ARG VERSION=3.20", "FROM ${BASE}:$VERSION"),
      [image(3, "FROM", "docker.io/library/alpine", "3.20")],
    ],
    [
      "${VAR:-default} when the ARG has no value, and when it has one",
      lines("ARG A", "ARG B=12", "FROM debian:${A:-11}", "FROM debian:${B:-11}"),
      [image(3, "FROM", "docker.io/library/debian", "11"), image(4, "FROM", "docker.io/library/debian", "12")],
    ],
    [
      "${VAR:+alt} is alt when set, empty when not",
      lines("ARG SLIM=yes", "ARG DEV", "FROM python:3.12${SLIM:+-slim}", "FROM python:3.12${DEV:+-dev}"),
      [image(3, "FROM", "docker.io/library/python", "3.12-slim"), image(4, "FROM", "docker.io/library/python", "3.12")],
    ],
    [
      "${VAR-default} keeps an empty value, ${VAR:-default} does not",
      lines("ARG SUFFIX=", "FROM node:20${SUFFIX-bogus}", "FROM node:20${SUFFIX:--slim}"),
      [image(2, "FROM", "docker.io/library/node", "20"), image(3, "FROM", "docker.io/library/node", "20-slim")],
    ],
    [
      "a nested default",
      lines("ARG FALLBACK=3.19", "FROM alpine:${PINNED:-${FALLBACK}}"),
      [image(2, "FROM", "docker.io/library/alpine", "3.19")],
    ],
    [
      "an ARG default built from an earlier ARG, with quotes",
      lines('ARG VERSION="3.20"', "ARG IMAGE='alpine':${VERSION}", "FROM $IMAGE"),
      [image(3, "FROM", "docker.io/library/alpine", "3.20")],
    ],
    [
      "several ARGs on one line",
      lines("ARG REGISTRY=localhost:5000 REPO=team/base TAG=1", "FROM $REGISTRY/$REPO:$TAG"),
      [image(2, "FROM", "localhost:5000/team/base", "1")],
    ],
    // Pattern operators, with BuildKit's glob semantics (* shortest or longest, ? one character, \\* literal)
    ...(
      [
        ["${V%.*} removes the shortest suffix", "${V%.*}", "3.20"],
        ["${V%%.*} removes the longest suffix", "${V%%.*}", "3"],
        ["${V#*.} removes the shortest prefix", "${V#*.}", "20.1"],
        ["${V##*.} removes the longest prefix", "${V##*.}", "1"],
        ["${V#?.} matches one character with ?", "${V#?.}", "20.1"],
        ["${V#x*} leaves the value when the pattern does not match", "${V#x*}", "3.20.1"],
        ["${V:#3.} reads like ${V#3.}, as in BuildKit", "${V:#3.}", "20.1"],
        ["${V/./-} replaces the first match", "${V/./-}", "3-20.1"],
        ["${V//./-} replaces every match", "${V//./-}", "3-20-1"],
        ["${V/.*/} replaces the longest match", "${V/.*/}", "3"],
        ["${V//*/7} replaces the whole value once, as Go does, not twice", "${V//*/7}", "7"],
        ["${V/x/y} leaves the value when the pattern does not match", "${V/x/y}", "3.20.1"],
        ["a pattern with a variable in it", "${V%$DOT*}", "3.20"],
        ["a pattern in quotes", '${V%".1"}', "3.20"],
      ] as const
    ).map(([title, word, tag]): [string, string, ExtractedImage[]] => [
      title,
      lines("ARG V=3.20.1", "ARG DOT=.", `FROM alpine:${word}`),
      [image(3, "FROM", "docker.io/library/alpine", tag)],
    ]),
    [
      "${IMAGE%@*} drops a digest and ${IMAGE%:*} a tag",
      lines(`ARG IMAGE=ghcr.io/acme/base:1.4@${DIGEST}`, "FROM ${IMAGE%@*} AS a", "FROM ${IMAGE%%:*}:2 AS b"),
      [image(2, "FROM", "ghcr.io/acme/base", "1.4", null, { stage: "a" }), image(3, "FROM", "ghcr.io/acme/base", "2", null, { stage: "b" })],
    ],
    ["an escaped * in a pattern is literal", lines("ARG T=3*", "FROM alpine:${T%\\*}"), [image(2, "FROM", "docker.io/library/alpine", "3")]],
    ["an escape BuildKit refuses in a pattern is unresolved", lines("ARG T=3a", "FROM alpine:${T%\\a}"), [unresolved(2, "FROM", "alpine:${T%\\a}")]],
    ["a pattern operator on an ARG with no value is unresolved", lines("ARG V", "FROM alpine:${V%.*}"), [unresolved(2, "FROM", "alpine:${V%.*}")]],
    ["a pattern with an unresolved variable is unresolved", lines("ARG V=3.20.1", "FROM alpine:${V%$SUFFIX}"), [unresolved(2, "FROM", "alpine:${V%$SUFFIX}")]],
    [
      "a pattern operator on a stage ENV from the base image is unresolved",
      lines("FROM alpine AS a", "COPY --from=nginx:${NGINX_VERSION%.*} / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" }), unresolved(2, "COPY", "nginx:${NGINX_VERSION%.*}", { stage: "a" })],
    ],
    ["${V//a/$0} would go through Go's template expansion: unresolved", lines("ARG V=a", "ARG D=$", "FROM alpine:${V//a/${D}0}"), [unresolved(3, "FROM", "alpine:${V//a/${D}0}")]],
    ["an empty replacement removes the match", lines("ARG V=3.20.1", "FROM alpine:${V/./}"), [image(2, "FROM", "docker.io/library/alpine", "320.1")]],
    ["a replacement without its second / is unresolved, as BuildKit fails on it", lines("ARG V=3.20.1", "FROM alpine:${V/x}"), [unresolved(2, "FROM", "alpine:${V/x}")]],
    ["an ARG with no value is unresolved", lines("ARG BASE", "FROM ${BASE}"), [unresolved(2, "FROM", "${BASE}")]],
    ["an undeclared variable is unresolved", "FROM alpine:$VERSION", [unresolved(1, "FROM", "alpine:$VERSION")]],
    ["a build-platform variable in the image is unresolved", "FROM alpine:${TARGETARCH:-amd64}", [unresolved(1, "FROM", "alpine:${TARGETARCH:-amd64}")]],
    ["an operator BuildKit does not know is unresolved", lines("ARG V=3.20.1", "FROM alpine:${V^^}"), [unresolved(2, "FROM", "alpine:${V^^}")]],
    ["${VAR:/…} is not an operator BuildKit knows", lines("ARG V=3.20.1", "FROM alpine:${V:/./-}"), [unresolved(2, "FROM", "alpine:${V:/./-}")]],
    ["an escaped dollar is literal", lines("ARG V=1", "FROM alpine:\\$V"), [unresolved(2, "FROM", "alpine:\\$V")]],
    [
      "an ARG after the first FROM is not global",
      lines("ARG V=1", "FROM alpine:$V", "ARG V=2", "FROM busybox:$V"),
      [image(2, "FROM", "docker.io/library/alpine", "1"), image(4, "FROM", "docker.io/library/busybox", "1")],
    ],
    [
      "a global ARG declared again without a value keeps its value",
      lines("ARG V=3.20", "ARG V", "FROM alpine:$V"),
      [image(3, "FROM", "docker.io/library/alpine", "3.20")],
    ],
    ["a global ARG declared again with a value takes the new value", lines("ARG V=1", "ARG V=2", "FROM alpine:$V"), [image(3, "FROM", "docker.io/library/alpine", "2")]],
    [
      "a platform ARG declared without a value still has the builder's value, unknown here",
      lines("ARG TARGETARCH", "FROM alpine:${TARGETARCH:-amd64}"),
      [unresolved(2, "FROM", "alpine:${TARGETARCH:-amd64}")],
    ],
    ["an undeclared meta-arg expands to nothing, so its default is used", "FROM alpine:${UNDECLARED:-3.19}", [image(1, "FROM", "docker.io/library/alpine", "3.19")]],
    ...["BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"].map(
      (name): [string, string, ExtractedImage[]] => [
        `$${name} is set by the builder, so even a default does not resolve it`,
        `FROM alpine:\${${name}:-3.20}`,
        [unresolved(1, "FROM", `alpine:\${${name}:-3.20}`)],
      ],
    ),
    [
      "a FROM that cannot be resolved still opens its stage",
      lines("ARG BASE", "FROM $BASE AS app", "COPY --from=nginx:1 / /"),
      [unresolved(2, "FROM", "$BASE", { stage: "app" }), image(3, "COPY", "docker.io/library/nginx", "1", null, { stage: "app" })],
    ],

    // --platform
    ["a literal platform", "FROM --platform=linux/arm64 alpine:3.20", [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { platform: "linux/arm64" })]],
    [
      "$BUILDPLATFORM stays as written",
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build",
      [image(1, "FROM", "docker.io/library/golang", "1.22", null, { platform: "$BUILDPLATFORM", stage: "build" })],
    ],
    [
      "${TARGETPLATFORM} and a partly known platform stay as written",
      lines("ARG OS=linux", "FROM --platform=${TARGETPLATFORM} alpine", "FROM --platform=$OS/$TARGETARCH alpine"),
      [
        image(2, "FROM", "docker.io/library/alpine", "latest", null, { platform: "${TARGETPLATFORM}" }),
        image(3, "FROM", "docker.io/library/alpine", "latest", null, { platform: "linux/$TARGETARCH" }),
      ],
    ],
    [
      "a platform from a global ARG is substituted",
      lines("ARG PLATFORM=linux/amd64", "FROM --platform=${PLATFORM} alpine"),
      [image(2, "FROM", "docker.io/library/alpine", "latest", null, { platform: "linux/amd64" })],
    ],
    ["a platform from an undeclared variable stays as written", "FROM --platform=$PLATFORM alpine", [image(1, "FROM", "docker.io/library/alpine", "latest", null, { platform: "$PLATFORM" })]],

    // Stages
    [
      "stage aliases, and FROM / COPY --from / RUN --mount from= a stage are not images",
      lines(
        "FROM golang:1.22 AS build",
        "FROM build as test",
        "FROM alpine:3.20 AS Runtime",
        "COPY --from=build /out/app /app",
        "COPY --from=BUILD /out/lib /lib",
        "RUN --mount=type=cache,from=test,target=/cache ls /cache",
        "FROM runtime",
      ),
      [image(1, "FROM", "docker.io/library/golang", "1.22", null, { stage: "build" }), image(3, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "runtime" })],
    ],
    [
      "a stage name only counts once it is declared",
      lines("FROM tools AS build", "FROM alpine AS tools"),
      [image(1, "FROM", "docker.io/library/tools", "latest", null, { stage: "build" }), image(2, "FROM", "docker.io/library/alpine", "latest", null, { stage: "tools" })],
    ],
    ["FROM scratch is skipped", lines("FROM scratch", "COPY app /"), []],
    [
      "a stage reached through an ARG is still a stage",
      lines("ARG FLAVOR=debug", "FROM alpine AS debug", "FROM ${FLAVOR}"),
      [image(2, "FROM", "docker.io/library/alpine", "latest", null, { stage: "debug" })],
    ],

    // Stage scopes: ARG, ENV and what the base image may set
    [
      "a stage ARG with a value",
      lines("FROM alpine", "ARG TOOLS=busybox:1.36", "COPY --from=$TOOLS / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "COPY", "docker.io/library/busybox", "1.36")],
    ],
    [
      "a stage ARG without a value or global default takes a default word but is unresolved alone",
      lines("FROM alpine", "ARG T", "COPY --from=${T:-busybox:1.36} / /", "COPY --from=$T / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "COPY", "docker.io/library/busybox", "1.36"), unresolved(4, "COPY", "$T")],
    ],
    [
      "a platform ARG declared in a stage has the builder's value, unknown here",
      lines("FROM alpine", "ARG TARGETARCH", "COPY --from=ghcr.io/acme/tools:1-${TARGETARCH:-amd64} /t /t"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), unresolved(3, "COPY", "ghcr.io/acme/tools:1-${TARGETARCH:-amd64}")],
    ],
    [
      "a stage ARG default is expanded with the stage's variables",
      lines("FROM alpine", "ENV REPO=nginx", "ARG IMAGE=$REPO:1.27", "COPY --from=$IMAGE / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(4, "COPY", "docker.io/library/nginx", "1.27")],
    ],
    [
      "a variable a stage does not declare may come from the base image's ENV, so its default word is not used",
      lines("FROM alpine", "COPY --from=${T:-busybox:1.36} / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), unresolved(2, "COPY", "${T:-busybox:1.36}")],
    ],
    [
      "an ENV before any FROM belongs to no stage: it is not read",
      lines("ENV T=busybox:1", "FROM alpine", "COPY --from=$T / /"),
      [image(2, "FROM", "docker.io/library/alpine", "latest"), unresolved(3, "COPY", "$T")],
    ],
    [
      "ENV NAME value, the legacy form",
      lines("FROM alpine", "ENV NGINX nginx:1.27", "COPY --from=$NGINX / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "COPY", "docker.io/library/nginx", "1.27")],
    ],
    [
      "the value of the legacy ENV form is the rest of the line, spaces included",
      lines("FROM alpine", "ENV TAG 1 2", "COPY --from=nginx:$TAG / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), unresolved(3, "COPY", "nginx:$TAG")],
    ],
    [
      "an ENV of several variables reads them all as they were before the instruction",
      lines("FROM alpine", "ENV T=1", "ENV T=2 IMAGE=nginx:$T", "COPY --from=$IMAGE / /", "COPY --from=nginx:$T / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(4, "COPY", "docker.io/library/nginx", "1"), image(5, "COPY", "docker.io/library/nginx", "2")],
    ],
    [
      "ENV wins over an ARG of the same name",
      lines("FROM alpine", "ENV T=nginx:1", "ARG T=busybox:1", "COPY --from=$T / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(4, "COPY", "docker.io/library/nginx", "1")],
    ],
    [
      "a stage built on another keeps its ENV but not its ARGs",
      lines("FROM alpine AS base", "ENV E=nginx:1", "ARG A=busybox:1", "FROM base", "COPY --from=$E / /", "COPY --from=$A / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" }), image(5, "COPY", "docker.io/library/nginx", "1"), unresolved(6, "COPY", "$A")],
    ],
    [
      "an ENV of a stage does not reach the stage it is built on",
      lines("FROM alpine AS base", "FROM base AS child", "ENV E=nginx:1", "FROM base", "COPY --from=$E / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" }), unresolved(5, "COPY", "$E")],
    ],

    [
      "instructions BuildKit refuses for a missing argument are read without throwing",
      lines("FROM", "FROM alpine AS", "ENV", "COPY --from /a /b", "RUN"),
      [image(2, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "only a --platform before the image is a flag",
      "FROM alpine AS build --platform=linux/arm64",
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "build" })],
    ],
    // COPY --from
    [
      "COPY --from an image, among other flags",
      lines("FROM alpine:3.20 AS app", "COPY --chown=0:0 --link --from=nginx:1.27 /etc/nginx /etc/nginx"),
      [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "app" }), image(2, "COPY", "docker.io/library/nginx", "1.27", null, { stage: "app" })],
    ],
    [
      "a numeric --from is a stage index; --from=scratch is not an image",
      lines("FROM golang:1.22", "FROM alpine", "COPY --from=0 /go/bin/app /app", "COPY --from=scratch / /"),
      [image(1, "FROM", "docker.io/library/golang", "1.22"), image(2, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "COPY --from uses stage ARGs (a bare ARG takes the global default) and ENV",
      lines("ARG TOOLS=localhost:5000/tools:2", "FROM alpine", "ARG TOOLS", "ENV HELPER=busybox:1.36", "COPY --from=$TOOLS /bin/t /bin/", "COPY --from=${HELPER} /bin/busybox /bin/"),
      [
        image(2, "FROM", "docker.io/library/alpine", "latest"),
        image(5, "COPY", "localhost:5000/tools", "2"),
        image(6, "COPY", "docker.io/library/busybox", "1.36"),
      ],
    ],
    [
      "a global ARG not redeclared in the stage is unresolved in COPY --from",
      lines("ARG TOOLS=localhost:5000/tools:2", "FROM alpine", "COPY --from=$TOOLS /bin/t /bin/"),
      [image(2, "FROM", "docker.io/library/alpine", "latest"), unresolved(3, "COPY", "$TOOLS")],
    ],
    [
      "ONBUILD triggers belong to the downstream build and are not read",
      lines("FROM alpine AS base", "ONBUILD COPY --from=nginx:1 / /", "ONBUILD RUN --mount=type=bind,from=busybox,target=/b true"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],
    [
      "a COPY before any FROM (which BuildKit refuses) reads the global ARGs",
      lines("ARG IMAGE=nginx:1", "COPY --from=$IMAGE / /", "FROM alpine"),
      [image(2, "COPY", "docker.io/library/nginx", "1"), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    ["COPY before any FROM names no stage", "COPY --from=alpine:3.20 /etc/os-release /", [image(1, "COPY", "docker.io/library/alpine", "3.20")]],
    [
      "a quoted --from value",
      lines("FROM alpine", 'COPY --from="nginx:1.27" / /', "COPY --from='busybox:1' / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "COPY", "docker.io/library/nginx", "1.27"), image(3, "COPY", "docker.io/library/busybox", "1")],
    ],
    ["a --from that starts with digits is an image, not a stage index", lines("FROM alpine", "COPY --from=1password/op:2 /op /op"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "COPY", "docker.io/1password/op", "2")]],
    ["-- ends the flags", lines("FROM alpine", "COPY -- --from=nginx:1 /a /b"), [image(1, "FROM", "docker.io/library/alpine", "latest")]],

    // RUN --mount
    [
      "RUN --mount from an image, next to mounts without from",
      lines(
        "FROM python:3.12-slim AS app",
        "RUN --mount=type=cache,target=/root/.cache \\",
        "    --mount=type=bind,from=ghcr.io/astral-sh/uv:0.4.0,source=/uv,target=/bin/uv \\",
        "    --network=none uv pip install -r requirements.txt",
      ),
      [
        image(1, "FROM", "docker.io/library/python", "3.12-slim", null, { stage: "app" }),
        image(2, "RUN", "ghcr.io/astral-sh/uv", "0.4.0", null, { stage: "app" }),
      ],
    ],
    [
      "quoted CSV fields and an upper-case key in a mount",
      lines("FROM alpine", `RUN --mount="type=bind,FROM=localhost:5000/data@${DIGEST},target=/data" ls /data`),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "localhost:5000/data", null, DIGEST)],
    ],
    [
      "a CSV-quoted field with a comma inside a shell-quoted mount",
      lines("FROM alpine", `RUN --mount='type=bind,"source=/a,b",from=nginx:1,target=/n' ls /n`),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "several mounts from images, in order",
      lines("FROM alpine", "RUN --mount=type=bind,from=nginx:1,target=/n --mount=from=busybox:1,target=/b true"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1"), image(2, "RUN", "docker.io/library/busybox", "1")],
    ],
    [
      "an escaped space inside a mount does not end it",
      lines("FROM alpine", "RUN --mount=type=bind,target=/a\\ b,from=nginx:1 ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "a backslash in single quotes escapes nothing",
      lines("FROM alpine", "RUN --mount='type=bind,source=C:\\',from=nginx:1 ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "a quoted space inside a mount does not end it",
      lines("FROM alpine", 'RUN --mount="type=bind,target=/my dir,from=nginx:1" ls', "RUN --mount='type=bind,target=/my dir,from=busybox:1' ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1"), image(3, "RUN", "docker.io/library/busybox", "1")],
    ],
    [
      "an escaped quote in a mount is a character, which leaves the reference unresolved",
      lines("FROM alpine", "RUN --mount=type=bind,from=nginx:1\\' ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), unresolved(2, "RUN", "nginx:1'")],
    ],
    ["an escape in a mount is removed", lines("FROM alpine", "RUN --mount=type=bind,from=nginx\\:1 ls"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")]],
    [
      "a backslash before a closing single quote is a character, and an escape ending the value is dropped",
      lines("FROM alpine", "RUN --mount='type=bind,from=nginx:1\\' ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "a single quote inside double quotes is a character: unbalanced, it leaves the mount unresolved",
      lines("FROM alpine", `RUN --mount="type=bind,from='nginx:1" ls`),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), unresolved(2, "RUN", "'nginx:1")],
    ],
    [
      "a CSV-quoted from= field",
      lines("FROM alpine", `RUN --mount='type=bind,"from=nginx:1"' ls`),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "a from= inside a CSV-quoted field is part of that field",
      lines("FROM alpine", `RUN --mount='type=bind,from=nginx:1,"source=/a,from=busybox:1"' ls`),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    [
      "a letter outside ASCII is not white space",
      lines("FROM alpine", "RUN --mount=type=bind,target=/données,from=nginx:1 ls"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "RUN", "docker.io/library/nginx", "1")],
    ],
    ["flags end at the command", lines("FROM alpine", "RUN echo --mount=type=bind,from=nginx"), [image(1, "FROM", "docker.io/library/alpine", "latest")]],

    // Line continuations, comments and blank lines
    [
      "a backslash continuation reports the first line",
      lines("FROM \\", "  --platform=linux/amd64 \\", "  alpine:3.20 \\", "  AS base"),
      [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { platform: "linux/amd64", stage: "base" })],
    ],
    [
      "comments and blank lines inside a continuation are dropped",
      lines("FROM alpine AS a", "RUN apk add curl \\", "# a comment, not the end", "", "    && curl --version", "COPY --from=nginx:1 / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" }), image(6, "COPY", "docker.io/library/nginx", "1", null, { stage: "a" })],
    ],
    [
      "trailing white space after the backslash still continues",
      lines("FROM alpine:3.20 \\  ", "  AS base"),
      [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "base" })],
    ],
    [
      "a # in the middle of a line is not a comment",
      lines("FROM alpine:3.20 AS base", "RUN echo '#' \\", "  && echo done", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "base" }), image(4, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a tab after the backslash still continues",
      lines("FROM alpine:3.20 \\\t", "  AS base"),
      [image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "base" })],
    ],
    [
      "a line of white space and an indented comment inside a continuation are dropped",
      lines("FROM alpine AS a", "RUN apk add curl \\", "   ", "  # indented comment", "    && curl --version", "COPY --from=nginx:1 / /"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" }), image(6, "COPY", "docker.io/library/nginx", "1", null, { stage: "a" })],
    ],
    [
      "an escaped backslash at the end of a line is not a continuation, as in BuildKit",
      lines("FROM alpine AS a", "RUN echo C:\\\\", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" }), image(3, "FROM", "docker.io/library/busybox", "latest")],
    ],
    ["a line of only a backslash continues", lines("FROM \\", "\\", "  alpine AS a"), [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" })]],
    ["a blank line inside a continuation is skipped", lines("FROM alpine \\", "", "  AS base"), [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })]],
    ["a comment line inside a continuation is skipped", lines("FROM alpine \\", "# the stage", "  AS base"), [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })]],
    [
      "a comment that ends with a backslash does not continue",
      lines("FROM busybox AS a", "# see the notes \\", "FROM alpine"),
      [image(1, "FROM", "docker.io/library/busybox", "latest", null, { stage: "a" }), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "a continuation on the last line ends the instruction",
      lines("FROM alpine", "COPY --from=nginx:1 / / \\"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(2, "COPY", "docker.io/library/nginx", "1")],
    ],

    // Parser directives
    [
      "the syntax directive is reported with its digest",
      lines(`# syntax=docker/dockerfile:1.7@${SYNTAX_DIGEST}`, "FROM alpine"),
      [image(1, "syntax", "docker.io/docker/dockerfile", "1.7", SYNTAX_DIGEST), image(2, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "directives are case-insensitive and allow spaces",
      lines("#  SYNTAX = docker/dockerfile:1", "# escape=\\", "FROM alpine"),
      [image(1, "syntax", "docker.io/docker/dockerfile", "1"), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    ["a directive without a space after #", lines("#syntax=docker/dockerfile:1", "FROM alpine"), [image(1, "syntax", "docker.io/docker/dockerfile", "1"), image(2, "FROM", "docker.io/library/alpine", "latest")]],
    ["a directive without a value is a comment", lines("# syntax=", "FROM alpine"), [image(2, "FROM", "docker.io/library/alpine", "latest")]],
    [
      "the check directive is a directive: the syntax directive after it is read",
      lines("# check=skip=all", "# syntax=docker/dockerfile:1", "FROM alpine"),
      [image(2, "syntax", "docker.io/docker/dockerfile", "1"), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    ["a comment that mentions a directive is not one", lines("# see syntax=docker/dockerfile:1", "FROM alpine"), [image(2, "FROM", "docker.io/library/alpine", "latest")]],
    [
      "a repeated directive ends the directives: the escape directive after it is not read",
      lines("# syntax=docker/dockerfile:1", "# syntax=docker/dockerfile:1.7", "# escape=`", "FROM alpine \\", "  AS base"),
      [image(1, "syntax", "docker.io/docker/dockerfile", "1"), image(4, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],
    ["a syntax directive after a comment is a comment", lines("# build me", "# syntax=docker/dockerfile:1", "FROM alpine"), [image(3, "FROM", "docker.io/library/alpine", "latest")]],
    ["a syntax directive after a blank line is a comment", lines("", "# syntax=docker/dockerfile:1", "FROM alpine"), [image(3, "FROM", "docker.io/library/alpine", "latest")]],
    ["an unknown directive ends the directives", lines("# foo=bar", "# syntax=docker/dockerfile:1", "FROM alpine"), [image(3, "FROM", "docker.io/library/alpine", "latest")]],
    [
      "a repeated directive ends the directives; the first one counts",
      lines("# syntax=docker/dockerfile:1", "# syntax=example.com/frontend:2", "FROM alpine"),
      [image(1, "syntax", "docker.io/docker/dockerfile", "1"), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    ["an invalid syntax value is unresolved", lines("# syntax=Not A Ref", "FROM alpine"), [unresolved(1, "syntax", "Not A Ref"), image(2, "FROM", "docker.io/library/alpine", "latest")]],
    [
      "escape=` makes the backtick continue lines and keeps backslashes",
      lines("# escape=`", "", "FROM mcr.microsoft.com/windows/servercore:ltsc2022 `", "  AS base", "WORKDIR C:\\app\\", "FROM base"),
      [image(3, "FROM", "mcr.microsoft.com/windows/servercore", "ltsc2022", null, { stage: "base" })],
    ],
    [
      "escape=` after a comment is ignored, so the backslash still continues",
      lines("# hello", "# escape=`", "FROM alpine \\", "  AS base"),
      [image(3, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],

    [
      "a directive indented with white space is a directive: BuildKit strips it",
      lines("  # escape=`", "FROM mcr.microsoft.com/windows/servercore:ltsc2022 `", "  AS base", "WORKDIR C:\\app\\", "FROM base"),
      [image(2, "FROM", "mcr.microsoft.com/windows/servercore", "ltsc2022", null, { stage: "base" })],
    ],
    [
      "tabs around #, the name and = of a directive",
      lines("\t#\tESCAPE\t=\t`\t", "FROM alpine `", "  AS base"),
      [image(2, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],
    [
      "an indented syntax directive selects no frontend (BuildKit's syntax detection does not strip) but does not end the directives",
      lines("  # syntax=docker/dockerfile:1", "# escape=`", "FROM alpine `", "  AS base"),
      [image(3, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],
    [
      "the syntax directive after a shebang line is read; the escape directive is not",
      lines("#!/usr/bin/env buildctl-daemonless.sh", "# syntax=docker/dockerfile:1", "# escape=`", "FROM alpine \\", "  AS base"),
      [image(2, "syntax", "docker.io/docker/dockerfile", "1"), image(4, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })],
    ],
    ["a directive after an indented comment is a comment", lines("  # build me", "# escape=`", "FROM alpine \\", "  AS base"), [image(3, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })]],
    ["a line of white space ends the directives", lines("   ", "# escape=`", "FROM alpine \\", "  AS base"), [image(3, "FROM", "docker.io/library/alpine", "latest", null, { stage: "base" })]],

    // Encodings and line endings
    [
      "a UTF-8 BOM before the syntax directive",
      `\uFEFF# syntax=docker/dockerfile:1\nFROM alpine`,
      [image(1, "syntax", "docker.io/docker/dockerfile", "1"), image(2, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "CRLF line endings, with a continuation",
      "ARG V=3.20\r\nFROM alpine:$V \\\r\n  AS base\r\nCOPY --from=nginx:1 / /\r\n",
      [image(2, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "base" }), image(4, "COPY", "docker.io/library/nginx", "1", null, { stage: "base" })],
    ],

    // Heredocs
    [
      "a RUN heredoc body is not parsed",
      lines("FROM alpine", "RUN <<EOF", "FROM evil:1", "COPY --from=evil:2 / /", "EOF", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(6, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "<<- strips leading tabs from the terminator; quoted names; two heredocs on one line",
      lines(
        "FROM alpine",
        "COPY <<-'CONF' /etc/app.conf",
        "\tFROM evil:1",
        "\tCONF",
        'RUN <<"ONE" cat - && sh <<TWO',
        "FROM evil:2",
        "ONE",
        "FROM evil:3",
        "TWO",
        "FROM busybox",
      ),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(10, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a heredoc in an exec-form RUN or in quotes is not a heredoc",
      lines("FROM alpine", 'RUN ["sh", "-c", "cat <<EOF"]', "RUN echo '<<EOF'", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(4, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a heredoc that follows flags and a continuation",
      lines("FROM alpine AS a", "RUN --mount=type=bind,from=nginx:1,target=/n \\", "  sh <<EOF", "FROM evil:1", "EOF"),
      [image(1, "FROM", "docker.io/library/alpine", "latest", null, { stage: "a" }), image(2, "RUN", "docker.io/library/nginx", "1", null, { stage: "a" })],
    ],
    [
      "an ADD heredoc body is not parsed",
      lines("FROM alpine", "ADD <<EOF /etc/motd", "FROM evil:1", "EOF", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(5, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a heredoc with a file descriptor",
      lines("FROM alpine", "RUN cat 3<<EOF", "FROM evil:1", "EOF", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(5, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a shell-form RUN that starts with [ is not exec form: its heredoc counts",
      lines("FROM alpine", "RUN [ -f /etc/motd ] && cat <<EOF", "FROM evil:1", "EOF", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(5, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "only RUN, COPY and ADD take heredocs",
      lines("FROM busybox", "CMD cat <<EOF", "FROM alpine"),
      [image(1, "FROM", "docker.io/library/busybox", "latest"), image(3, "FROM", "docker.io/library/alpine", "latest")],
    ],
    [
      "without <<- a line of tabs and the name does not end the heredoc",
      lines("FROM alpine", "RUN <<EOF", "\tEOF", "FROM evil:1", "EOF", "FROM busybox"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(6, "FROM", "docker.io/library/busybox", "latest")],
    ],
    ["<<- strips every leading tab from the terminator", lines("FROM alpine", "RUN <<-EOF", "\t\tEOF", "FROM busybox"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(4, "FROM", "docker.io/library/busybox", "latest")]],
    ["<<- strips only the leading tabs", lines("FROM alpine", "RUN <<-EOF", "EO\tF", "FROM evil:1", "EOF", "FROM busybox"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(6, "FROM", "docker.io/library/busybox", "latest")]],
    ["a << inside a word is not a heredoc marker", lines("FROM alpine", "RUN cat a<<EOF", "FROM busybox"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "FROM", "docker.io/library/busybox", "latest")]],
    [
      "an exec-form RUN whose words look like a marker once the backtick is the escape",
      lines("# escape=`", "FROM alpine", 'RUN ["sh", "-c", "echo \\" <<EOF \\""]', "FROM busybox"),
      [image(2, "FROM", "docker.io/library/alpine", "latest"), image(4, "FROM", "docker.io/library/busybox", "latest")],
    ],
    [
      "a heredoc word with an unbalanced quote is no marker",
      lines("FROM alpine", 'RUN echo <<"EOF', "FROM busybox", "RUN echo <<EOF'", "FROM debian"),
      [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "FROM", "docker.io/library/busybox", "latest"), image(5, "FROM", "docker.io/library/debian", "latest")],
    ],
    ["a word with a < after the name is no marker, as BuildKit reads it", lines("FROM alpine", "RUN cat <<EOF<input", "FROM busybox"), [image(1, "FROM", "docker.io/library/alpine", "latest"), image(3, "FROM", "docker.io/library/busybox", "latest")]],
    ["nothing after an unterminated heredoc is read", lines("FROM alpine", "RUN <<EOF", "FROM evil:1"), [image(1, "FROM", "docker.io/library/alpine", "latest")]],
    ["a heredoc marker on the last line", lines("FROM alpine", "RUN <<EOF"), [image(1, "FROM", "docker.io/library/alpine", "latest")]],
  ])("%s", (_name, dockerfile, expected) => {
    expect(extractImages(dockerfile)).toEqual(expected);
  });
});

describe("extractImages with many stages", () => {
  it("reads a --from of several digits as a stage index", () => {
    const stages = Array.from({ length: 11 }, (_, index) => `FROM alpine AS s${index}`);
    expect(extractImages(lines(...stages, "COPY --from=10 / /"))).toEqual(
      stages.map((_, index) => image(index + 1, "FROM", "docker.io/library/alpine", "latest", null, { stage: `s${index}` })),
    );
  });
});

describe("locateImages", () => {
  /** Where the one occurrence of `needle` is in `text`. */
  function spanOf(text: string, needle: string): SourceSpan {
    const start = text.indexOf(needle);
    if (start < 0 || text.indexOf(needle, start + 1) >= 0) throw new Error(`${needle} is not in the text exactly once`);
    return { start, end: start + needle.length };
  }

  function located(image: ExtractedImage, reference: string | null, digestSpan: SourceSpan | null, pinOffset: number | null): LocatedImage {
    return { image, reference, digestSpan, pinOffset };
  }

  const ALPINE = image(1, "FROM", "docker.io/library/alpine", "latest");
  const HEX = DIGEST.slice("sha256:".length);

  it.each<[string, string, (text: string) => LocatedImage[]]>([
    ["a reference without a digest is pinned after it", "FROM alpine:3.20 AS a", (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "a" }), "alpine:3.20", null, spanOf(text, "alpine:3.20").end),
    ]],
    ["a digest written in the instruction", `FROM alpine:3.20@${DIGEST} AS a`, (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20", DIGEST, { stage: "a" }), `alpine:3.20@${DIGEST}`, spanOf(text, DIGEST), null),
    ]],
    ["a digest written in the ARG default the instruction expands", lines(`ARG D=${DIGEST}`, "FROM alpine@$D"), (text) => [
      located(image(2, "FROM", "docker.io/library/alpine", null, DIGEST), `alpine@${DIGEST}`, spanOf(text, DIGEST), null),
    ]],
    ["a reference written whole in an ARG default is pinned there", lines("ARG IMAGE=alpine:3.20", "FROM $IMAGE"), (text) => [
      located(image(2, "FROM", "docker.io/library/alpine", "3.20"), "alpine:3.20", null, spanOf(text, "alpine:3.20").end),
    ]],
    ["a reference assembled from several places is pinned after the FROM word", lines("ARG V=3.20", "FROM alpine:$V AS a"), (text) => [
      located(image(2, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "a" }), "alpine:3.20", null, spanOf(text, "alpine:$V").end),
    ]],
    ["a digest assembled from several places has no span", lines(`ARG H=${HEX}`, "FROM alpine@sha256:$H"), () => [
      located(image(2, "FROM", "docker.io/library/alpine", null, DIGEST), `alpine@${DIGEST}`, null, null),
    ]],
    ["a quoted reference is pinned inside its quotes", 'FROM "alpine:3.20" AS a', (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "a" }), "alpine:3.20", null, spanOf(text, "alpine:3.20").end),
    ]],
    ["a reference written with an escape is pinned after its word", "FROM alpine\\:3.20 AS a", (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "a" }), "alpine:3.20", null, spanOf(text, "alpine\\:3.20").end),
    ]],
    ["COPY --from", lines("FROM alpine", "COPY --from=nginx:1.27 / /"), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(2, "COPY", "docker.io/library/nginx", "1.27"), "nginx:1.27", null, spanOf(text, "nginx:1.27").end),
    ]],
    ["COPY --from an image in a stage ARG with a global default", lines("ARG IMAGE=nginx:1.27", "FROM alpine", "ARG IMAGE", "COPY --from=$IMAGE / /"), (text) => [
      located(image(2, "FROM", "docker.io/library/alpine", "latest"), "alpine", null, spanOf(text, "alpine").end),
      located(image(4, "COPY", "docker.io/library/nginx", "1.27"), "nginx:1.27", null, spanOf(text, "nginx:1.27").end),
    ]],
    ["COPY --from assembled from several places is pinned after the flag", lines("FROM alpine", "ARG V=1.27", "COPY --from=nginx:$V / /"), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(3, "COPY", "docker.io/library/nginx", "1.27"), "nginx:1.27", null, spanOf(text, "--from=nginx:$V").end),
    ]],
    ["RUN --mount from= written in one piece", lines("FROM alpine", "RUN --mount=type=bind,from=nginx:1.27,target=/n ls"), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(2, "RUN", "docker.io/library/nginx", "1.27"), "nginx:1.27", null, spanOf(text, "nginx:1.27").end),
    ]],
    ["RUN --mount from= assembled from several places cannot be pinned inside its list", lines("FROM alpine", "ARG V=1.27", "RUN --mount=type=bind,from=nginx:$V,target=/n ls"), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(3, "RUN", "docker.io/library/nginx", "1.27"), "nginx:1.27", null, null),
    ]],
    ["RUN --mount from= with a digest, in quotes", lines("FROM alpine", `RUN --mount="type=bind,from=nginx@${DIGEST}" ls`), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(2, "RUN", "docker.io/library/nginx", null, DIGEST), `nginx@${DIGEST}`, spanOf(text, DIGEST), null),
    ]],
    ["the syntax directive's digest, spaces around", lines(`# syntax = docker/dockerfile:1@${DIGEST}  `, "FROM alpine"), (text) => [
      located(image(1, "syntax", "docker.io/docker/dockerfile", "1", DIGEST), `docker/dockerfile:1@${DIGEST}`, spanOf(text, DIGEST), null),
      located(image(2, "FROM", "docker.io/library/alpine", "latest"), "alpine", null, spanOf(text, "alpine").end),
    ]],
    ["the syntax directive without a digest, a tab after it", lines("# syntax=docker/dockerfile:1\t", "FROM alpine"), (text) => [
      located(image(1, "syntax", "docker.io/docker/dockerfile", "1"), "docker/dockerfile:1", null, spanOf(text, "dockerfile:1").end),
      located(image(2, "FROM", "docker.io/library/alpine", "latest"), "alpine", null, spanOf(text, "alpine").end),
    ]],
    ["the syntax directive's digest after a shebang line", lines("#!/usr/bin/env buildctl-daemonless.sh", `# syntax=docker/dockerfile:1@${DIGEST}`, "FROM alpine"), (text) => [
      located(image(2, "syntax", "docker.io/docker/dockerfile", "1", DIGEST), `docker/dockerfile:1@${DIGEST}`, spanOf(text, DIGEST), null),
      located(image(3, "FROM", "docker.io/library/alpine", "latest"), "alpine", null, spanOf(text, "alpine").end),
    ]],
    ["CRLF line endings: the pin goes before the carriage return", "FROM alpine:3.20\r\nFROM busybox\r\n", (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20"), "alpine:3.20", null, spanOf(text, "alpine:3.20").end),
      located(image(2, "FROM", "docker.io/library/busybox", "latest"), "busybox", null, spanOf(text, "busybox").end),
    ]],
    ["a BOM counts in the offsets", "\uFEFFFROM alpine", () => [located(ALPINE, "alpine", null, 12)]],
    ["a reference on a continuation line", lines("FROM \\", "  alpine:3.20 \\", "  AS a"), (text) => [
      located(image(1, "FROM", "docker.io/library/alpine", "3.20", null, { stage: "a" }), "alpine:3.20", null, spanOf(text, "alpine:3.20").end),
    ]],
    ["a reference after a heredoc", lines("FROM alpine", "RUN <<EOF", "echo", "EOF", "FROM busybox"), (text) => [
      located(ALPINE, "alpine", null, spanOf(text, "alpine").end),
      located(image(5, "FROM", "docker.io/library/busybox", "latest"), "busybox", null, spanOf(text, "busybox").end),
    ]],
    ["a reference needing an unknown variable has no text and no place", "FROM alpine:$V", () => [located(unresolved(1, "FROM", "alpine:$V"), null, null, null)]],
    ["an invalid reference keeps its text but no place", "FROM Alpine:3.20", () => [located(unresolved(1, "FROM", "Alpine:3.20"), "Alpine:3.20", null, null)]],
  ])("%s", (_title, text, expected) => {
    expect(locateImages(text)).toEqual(expected(text));
  });
});

describe("extractImages on realistic Dockerfiles", () => {
  const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/dockerfiles/${name}`, import.meta.url), "utf8");

  it.each<[string, ExtractedImage[]]>([
    [
      "go-service.Dockerfile",
      [
        image(1, "syntax", "docker.io/docker/dockerfile", "1.7", SYNTAX_DIGEST),
        image(10, "FROM", "docker.io/library/golang", "1.22.5-alpine3.20", null, { platform: "$BUILDPLATFORM", stage: "build" }),
        image(19, "COPY", "contoso.azurecr.io/tools/protoc", "25.1", null, { stage: "build" }),
        image(32, "FROM", "contoso.azurecr.io/base/certs", "2024.06", null, { stage: "certs" }),
        image(34, "FROM", "gcr.io/distroless/static-debian12", "nonroot", null, { stage: "runtime" }),
      ],
    ],
    [
      "node-web.Dockerfile",
      [
        image(5, "FROM", "docker.io/library/node", "20.15.1-bookworm-slim", null, { stage: "base" }),
        image(26, "FROM", "docker.io/library/nginx", "1.27.0-alpine", "sha256:208b70eefac13ee9be00e486f79c695b15cef861c680527171a27d253d834be9", { stage: "runtime" }),
        image(28, "COPY", "docker.io/bitnami/nginx-exporter", "1.1.0", null, { stage: "runtime" }),
      ],
    ],
    [
      "dotnet-linux.Dockerfile (BOM, CRLF)",
      [
        image(1, "syntax", "docker.io/docker/dockerfile", "1"),
        image(6, "FROM", "mcr.microsoft.com/dotnet/sdk", "8.0-jammy", null, { platform: "$BUILDPLATFORM", stage: "build" }),
        image(16, "FROM", "mcr.microsoft.com/dotnet/sdk", "8.0-jammy", null, { stage: "tests" }),
        image(19, "RUN", "contoso.azurecr.io/testing/fixtures", "2024-06", null, { stage: "tests" }),
        image(22, "FROM", "mcr.microsoft.com/dotnet/aspnet", "8.0-jammy-chiseled"),
      ],
    ],
    [
      "dotnet-windows.Dockerfile (escape=`, CRLF)",
      [
        image(7, "FROM", "mcr.microsoft.com/dotnet/sdk", "8.0-windowsservercore-ltsc2022", null, { stage: "build" }),
        image(19, "FROM", "mcr.microsoft.com/dotnet/aspnet", "8.0-nanoserver-ltsc2022", null, { stage: "final" }),
        image(23, "COPY", "mcr.microsoft.com/windows/servercore", "ltsc2022", null, { stage: "final" }),
      ],
    ],
  ])("%s", (name, expected) => {
    expect(extractImages(fixture(name.split(" ")[0] ?? name))).toEqual(expected);
  });
});

describe("finalBaseImage", () => {
  it.each([
    ["a single stage", "FROM alpine:3.20\nRUN true\n", { name: "docker.io/library/alpine", tag: "3.20", digest: null, line: 1, stage: null }],
    [
      "the last stage through a stage alias",
      "FROM golang:1.22 AS build\nRUN go build\nFROM gcr.io/distroless/static@sha256:" + "a".repeat(64) + " AS base\nFROM base\nCOPY --from=build /app /app\n",
      { name: "gcr.io/distroless/static", tag: null, digest: `sha256:${"a".repeat(64)}`, line: 3, stage: "base" },
    ],
    ["a global ARG", "ARG V=1\nFROM registry.test:5000/ripple/busybox:${V}\n", { name: "registry.test:5000/ripple/busybox", tag: "1", digest: null, line: 2, stage: null }],
  ])("finds the base of %s", (_, text, expected) => {
    const base = finalBaseImage(text);
    expect(base && { name: base.name, tag: base.tag, digest: base.digest, line: base.line, stage: base.stage }).toEqual(expected);
  });

  it.each([
    ["scratch", "FROM golang AS build\nFROM scratch\nCOPY --from=build /a /a\n"],
    ["an empty file", ""],
  ])("is null for %s", (_, text) => {
    expect(finalBaseImage(text)).toBeNull();
  });

  it("returns an unresolvable base as unresolved, never a guess", () => {
    expect(finalBaseImage("ARG BASE\nFROM ${BASE}\n")).toEqual({ name: "", tag: null, digest: null, instruction: "FROM", line: 2, stage: null, platform: null, unresolved: true, raw: "${BASE}" });
  });
});
