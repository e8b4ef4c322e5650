/**
 * The parts of a multi-platform ACR Tasks build that are not ARM: the scratch tag each platform's run
 * pushes to, how the platforms' runs add up to one build, and the index over their images.
 */
import { createHash } from "node:crypto";
import type { PlatformProperties } from "@azure/arm-containerregistry";
import { AppError } from "../../errors.js";
import type { BuildRun, RunStatus } from "../../ports/image-builder.js";
import type { RawManifest } from "../../ports/registry-content.js";
import { MANIFEST_MEDIA_TYPES } from "../oci/parse-manifest.js";
import { PLATFORM_TAG_PREFIX } from "../../domain/scratch-tag.js";

export { PLATFORM_TAG_PREFIX } from "../../domain/scratch-tag.js";
/** Joins the runs of one multi-platform build into its run id (`cb1+cb2`). */
export const RUN_ID_SEPARATOR = "+";

/** One platform's run of a multi-platform build, as ARM reported it. */
export interface PlatformRun {
  /** `os/arch[/variant]` */
  readonly platform: string;
  readonly run: BuildRun;
}

/** A multi-platform build's state, and the run whose log tells most about it. */
export interface CombinedRun {
  readonly run: BuildRun;
  readonly logsOf: string | null;
}

const SINGLE_PLATFORM_MEDIA_TYPES: ReadonlySet<string> = new Set([MANIFEST_MEDIA_TYPES.ociManifest, MANIFEST_MEDIA_TYPES.dockerManifest]);
const STOPPED: ReadonlySet<RunStatus> = new Set(["canceled", "timed-out"]);

/**
 * The scratch tag one platform's run pushes to: the same for every attempt of one rebuild (the
 * worker's idempotency key) and platform, different for every other, and a valid tag.
 */
export function platformTag(idempotencyKey: string, platform: string): string {
  const hash = createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 16);
  return `${PLATFORM_TAG_PREFIX}${hash}-${platform.replace(/[^A-Za-z0-9_.-]+/g, "-")}`;
}

/** The ids of the runs of a multi-platform build's run id; null for a single run's id. */
export function splitRunId(runId: string): string[] | null {
  return runId.includes(RUN_ID_SEPARATOR) ? runId.split(RUN_ID_SEPARATOR) : null;
}

/**
 * One build of every platform's run: failed as soon as one platform failed (then canceled or timed out
 * as soon as one was), naming that platform and its run; succeeded once every platform has; queued
 * while none has started, running otherwise. Pure.
 */
export function combinePlatformRuns(runs: readonly PlatformRun[]): CombinedRun {
  const runId = runs.map(({ run }) => run.runId).join(RUN_ID_SEPARATOR);
  const startedAt = earliest(runs.map(({ run }) => run.startedAt));
  const stopped = runs.find(({ run }) => run.status === "failed") ?? runs.find(({ run }) => STOPPED.has(run.status));
  if (stopped !== undefined) {
    const { platform, run } = stopped;
    const reason = `${platform} (run ${run.runId}): ${run.reason ?? `ended with status ${run.status}`}`;
    return { run: { runId, status: run.status, logsUrl: null, startedAt, finishedAt: run.finishedAt, reason }, logsOf: run.runId };
  }
  if (runs.every(({ run }) => run.status === "succeeded")) {
    const finishedAt = latest(runs.map(({ run }) => run.finishedAt));
    return { run: { runId, status: "succeeded", logsUrl: null, startedAt, finishedAt, reason: null }, logsOf: runs[0]?.run.runId ?? null };
  }
  const status = runs.every(({ run }) => run.status === "queued") ? "queued" : "running";
  return { run: { runId, status, logsUrl: null, startedAt, finishedAt: null, reason: null }, logsOf: null };
}

/**
 * The index over per-platform images, in the given order: a Docker manifest list when every image is a
 * Docker manifest (as `docker manifest` makes), an OCI image index otherwise. The same images give the
 * same bytes, so pushing it again changes nothing.
 * @throws AppError `build_output_invalid` when an image is not a single-platform manifest.
 */
export function assembleIndex(images: ReadonlyArray<{ readonly platform: PlatformProperties; readonly manifest: RawManifest }>): RawManifest {
  for (const { platform, manifest } of images) {
    if (!SINGLE_PLATFORM_MEDIA_TYPES.has(manifest.mediaType)) {
      throw new AppError("build_output_invalid", `the ${platform.os}/${platform.architecture} build pushed ${manifest.mediaType}, not a single-platform image manifest`, {
        retryable: false,
        details: { digest: manifest.digest },
      });
    }
  }
  const docker = images.every(({ manifest }) => manifest.mediaType === MANIFEST_MEDIA_TYPES.dockerManifest);
  const mediaType = docker ? MANIFEST_MEDIA_TYPES.dockerManifestList : MANIFEST_MEDIA_TYPES.ociIndex;
  const body = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map(({ platform, manifest }) => ({
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.bytes.byteLength,
      platform: { architecture: platform.architecture, os: platform.os, ...(platform.variant === undefined ? {} : { variant: platform.variant }) },
    })),
  };
  const bytes = Buffer.from(JSON.stringify(body));
  return { digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, mediaType, bytes };
}

function earliest(times: ReadonlyArray<string | null>): string | null {
  return times.reduce<string | null>((found, time) => (time !== null && (found === null || time < found) ? time : found), null);
}

function latest(times: ReadonlyArray<string | null>): string | null {
  return times.reduce<string | null>((found, time) => (time !== null && (found === null || time > found) ? time : found), null);
}
