import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { assembleIndex, combinePlatformRuns, platformTag, splitRunId, type PlatformRun } from "../../../shared/adapters/acr-tasks/platform-index.js";
import type { BuildRun } from "../../../shared/ports/image-builder.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

function manifest(name: string, mediaType: string) {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, name }));
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, mediaType, bytes };
}

function run(runId: string, status: BuildRun["status"], reason: string | null = null): BuildRun {
  const final = status !== "queued" && status !== "running";
  return { runId, status, logsUrl: null, startedAt: status === "queued" ? null : `2024-07-22T18:0${runId.slice(-1)}:00.000Z`, finishedAt: final ? `2024-07-22T18:1${runId.slice(-1)}:00.000Z` : null, reason };
}

const on = (platform: string, built: BuildRun): PlatformRun => ({ platform, run: built });

describe("combinePlatformRuns", () => {
  it.each<[string, PlatformRun[], BuildRun, string | null]>([
    ["all queued", [on("linux/amd64", run("cb1", "queued")), on("linux/arm64", run("cb2", "queued"))], { ...run("cb1", "queued"), runId: "cb1+cb2" }, null],
    [
      "one started",
      [on("linux/amd64", run("cb1", "queued")), on("linux/arm64", run("cb2", "running"))],
      { runId: "cb1+cb2", status: "running", logsUrl: null, startedAt: "2024-07-22T18:02:00.000Z", finishedAt: null, reason: null },
      null,
    ],
    [
      "one succeeded, one running",
      [on("linux/amd64", run("cb1", "succeeded")), on("linux/arm64", run("cb2", "running"))],
      { runId: "cb1+cb2", status: "running", logsUrl: null, startedAt: "2024-07-22T18:01:00.000Z", finishedAt: null, reason: null },
      null,
    ],
    [
      "all succeeded",
      [on("linux/amd64", run("cb1", "succeeded")), on("linux/arm64", run("cb2", "succeeded"))],
      { runId: "cb1+cb2", status: "succeeded", logsUrl: null, startedAt: "2024-07-22T18:01:00.000Z", finishedAt: "2024-07-22T18:12:00.000Z", reason: null },
      "cb1",
    ],
    [
      "one failed while another still runs",
      [on("linux/amd64", run("cb1", "running")), on("linux/arm64", run("cb2", "failed", "exec format error"))],
      { runId: "cb1+cb2", status: "failed", logsUrl: null, startedAt: "2024-07-22T18:01:00.000Z", finishedAt: "2024-07-22T18:12:00.000Z", reason: "linux/arm64 (run cb2): exec format error" },
      "cb2",
    ],
    [
      "a failure before a cancellation",
      [on("linux/amd64", run("cb1", "canceled")), on("linux/arm64", run("cb2", "failed"))],
      { runId: "cb1+cb2", status: "failed", logsUrl: null, startedAt: "2024-07-22T18:01:00.000Z", finishedAt: "2024-07-22T18:12:00.000Z", reason: "linux/arm64 (run cb2): ended with status failed" },
      "cb2",
    ],
    [
      "one timed out",
      [on("linux/amd64", run("cb1", "succeeded")), on("linux/arm64", run("cb2", "timed-out", "run timed out after 3600 seconds"))],
      { runId: "cb1+cb2", status: "timed-out", logsUrl: null, startedAt: "2024-07-22T18:01:00.000Z", finishedAt: "2024-07-22T18:12:00.000Z", reason: "linux/arm64 (run cb2): run timed out after 3600 seconds" },
      "cb2",
    ],
  ])("%s", (_name, runs, expected, logsOf) => {
    expect(combinePlatformRuns(runs)).toEqual({ run: expected, logsOf });
  });
});

describe("assembleIndex", () => {
  const amd64 = manifest("amd64", OCI_MANIFEST);
  const arm = manifest("arm", OCI_MANIFEST);

  it("makes an OCI image index over OCI manifests, in the given order, the same bytes every time", () => {
    const images = [
      { platform: { os: "linux", architecture: "amd64" }, manifest: amd64 },
      { platform: { os: "linux", architecture: "arm", variant: "v7" }, manifest: arm },
    ];
    const index = assembleIndex(images);
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(JSON.parse(index.bytes.toString("utf8"))).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd64.digest, size: amd64.bytes.byteLength, platform: { architecture: "amd64", os: "linux" } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.bytes.byteLength, platform: { architecture: "arm", os: "linux", variant: "v7" } },
      ],
    });
    expect(index.digest).toBe(`sha256:${createHash("sha256").update(index.bytes).digest("hex")}`);
    expect(assembleIndex(images)).toEqual(index);
  });

  it("makes a Docker manifest list over Docker manifests only", () => {
    const images = [{ platform: { os: "linux", architecture: "amd64" }, manifest: manifest("docker", DOCKER_MANIFEST) }];
    expect(assembleIndex(images).mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(assembleIndex([...images, { platform: { os: "linux", architecture: "arm64" }, manifest: arm }]).mediaType).toBe("application/vnd.oci.image.index.v1+json");
  });

  it("refuses a platform whose build pushed an index", () => {
    const nested = manifest("nested", "application/vnd.oci.image.index.v1+json");
    expect(() => assembleIndex([{ platform: { os: "linux", architecture: "arm64" }, manifest: nested }])).toThrowError(
      expect.objectContaining({
        code: "build_output_invalid",
        message: "the linux/arm64 build pushed application/vnd.oci.image.index.v1+json, not a single-platform image manifest",
        retryable: false,
        details: { digest: nested.digest },
      }),
    );
  });
});

describe("platform tags and run ids", () => {
  it("gives each rebuild and platform its own valid tag", () => {
    const tag = platformTag("registry.test/team/api:1.0|sha256:b", "linux/arm64/v8");
    expect(tag).toMatch(/^ripple-platform-[0-9a-f]{16}-linux-arm64-v8$/);
    expect(platformTag("registry.test/team/api:1.0|sha256:b", "linux/arm64/v8")).toBe(tag);
    expect(platformTag("registry.test/team/api:1.0|sha256:c", "linux/arm64/v8")).not.toBe(tag);
  });

  it.each([
    ["cb1", null],
    ["cb1+cb2", ["cb1", "cb2"]],
  ])("splits %s", (runId, expected) => {
    expect(splitRunId(runId)).toEqual(expected);
  });
});
