import { createHash } from "node:crypto";
import type { ContainerRegistryContentClient } from "@azure/container-registry";
import type { ImageIndexFacts, ImageManifestFacts, Platform } from "../../../shared/domain/image-facts.js";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}

/** A single-platform image as bytes, plus the facts a registry adapter must read back from it. */
export interface ImageContent {
  readonly config: Buffer;
  readonly layers: Buffer[];
  readonly manifest: Buffer;
  readonly mediaType: string;
  readonly facts: ImageManifestFacts;
}

/** An index as bytes, plus its facts. */
export interface IndexContent {
  readonly manifest: Buffer;
  readonly mediaType: string;
  readonly facts: ImageIndexFacts;
}

/**
 * Builds an image (OCI or Docker v2) whose layers are the given texts. The config carries
 * diff_ids, labels, created and the platform, so every field of the facts is exercised.
 */
export function buildImage(options: {
  format: "oci" | "docker";
  layers: string[];
  platform: Platform;
  labels?: Record<string, string> | null;
  created?: string;
  annotations?: Record<string, string>;
}): ImageContent {
  const oci = options.format === "oci";
  const layers = options.layers.map((text) => Buffer.from(`layer:${text}`));
  const diffIds = options.layers.map((text) => sha256(`diff:${text}`));
  const config = Buffer.from(
    JSON.stringify({
      created: options.created ?? "2024-07-22T18:04:33Z",
      architecture: options.platform.architecture,
      ...(options.platform.variant === null ? {} : { variant: options.platform.variant }),
      os: options.platform.os,
      config: { Env: ["PATH=/usr/bin:/bin"], Labels: options.labels === undefined ? null : options.labels },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
  const mediaType = oci ? OCI_MANIFEST : DOCKER_MANIFEST;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG, digest: sha256(config), size: config.byteLength },
      layers: layers.map((layer) => ({ mediaType: oci ? OCI_LAYER : DOCKER_LAYER, digest: sha256(layer), size: layer.byteLength })),
      ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
    }),
  );
  return {
    config,
    layers,
    manifest,
    mediaType,
    facts: {
      kind: "image",
      digest: sha256(manifest),
      mediaType,
      configDigest: sha256(config),
      layers: layers.map((layer) => sha256(layer)),
      diffIds,
      annotations: options.annotations ?? {},
      labels: options.labels ?? {},
      created: options.created ?? "2024-07-22T18:04:33Z",
      platform: options.platform,
    },
  };
}

/** Builds an index (OCI or Docker manifest list) over the given children; `unknown/unknown` children are left out of the facts. */
export function buildIndex(options: {
  format: "oci" | "docker";
  children: Array<{ manifest: Buffer; mediaType: string; platform: Platform; annotations?: Record<string, string> }>;
  annotations?: Record<string, string>;
}): IndexContent {
  const mediaType = options.format === "oci" ? OCI_INDEX : DOCKER_LIST;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: options.children.map((child) => ({
        mediaType: child.mediaType,
        digest: sha256(child.manifest),
        size: child.manifest.byteLength,
        platform: { architecture: child.platform.architecture, os: child.platform.os, ...(child.platform.variant === null ? {} : { variant: child.platform.variant }) },
        ...(child.annotations === undefined ? {} : { annotations: child.annotations }),
      })),
      ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
    }),
  );
  return {
    manifest,
    mediaType,
    facts: {
      kind: "index",
      digest: sha256(manifest),
      mediaType,
      annotations: options.annotations ?? {},
      children: options.children
        .filter((child) => !(child.platform.os === "unknown" && child.platform.architecture === "unknown"))
        .map((child) => ({ digest: sha256(child.manifest), mediaType: child.mediaType, platform: child.platform })),
    },
  };
}

/** Pushes an image's blobs and manifest through the SDK content client (untagged unless `tag` is given). */
export async function pushImage(client: ContainerRegistryContentClient, image: ImageContent, tag?: string): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await client.uploadBlob(blob);
  await client.setManifest(image.manifest, { mediaType: image.mediaType, ...(tag === undefined ? {} : { tag }) });
}

/** Pushes an index manifest (its children must already be in the repository). */
export async function pushIndex(client: ContainerRegistryContentClient, index: IndexContent, tag: string): Promise<void> {
  await client.setManifest(index.manifest, { mediaType: index.mediaType, tag });
}
