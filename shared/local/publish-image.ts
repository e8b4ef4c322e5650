import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { RegistryContent } from "../ports/registry-content.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

async function pushBlob(registry: RegistryContent, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  if (!(await registry.hasBlob(repository, digest))) await registry.writeBlob(repository, digest, { size: bytes.byteLength, stream: Readable.from([bytes]) });
  return digest;
}

async function pushImage(registry: RegistryContent, repository: string, reference: string, platform: string, created: string): Promise<{ digest: string; size: number }> {
  const [os, architecture, variant] = platform.split("/");
  const layer = randomBytes(512);
  const config = Buffer.from(JSON.stringify({ created, architecture, os, ...(variant ? { variant } : {}), rootfs: { type: "layers", diff_ids: [sha256(layer)] }, config: {} }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: await pushBlob(registry, repository, config), size: config.byteLength },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: await pushBlob(registry, repository, layer), size: layer.byteLength }],
  }));
  const digest = await registry.writeManifest(repository, reference, { digest: sha256(manifest), mediaType: OCI_MANIFEST, bytes: manifest });
  return { digest, size: manifest.byteLength };
}

/**
 * Publishes a small image with fresh random content under `repository:tag` (a "patch": a new digest
 * every time) — one platform, or an OCI index of several — through a registry's content port, as a
 * publisher pushing to an upstream registry would. Returns the tag's new digest. For the local stack's
 * tests and benchmarks; the bytes are not a runnable image.
 */
export async function publishRandomImage(
  registry: RegistryContent,
  repository: string,
  tag: string,
  options: { platforms?: readonly string[]; created?: string } = {},
): Promise<string> {
  const platforms = options.platforms ?? ["linux/amd64"];
  const created = options.created ?? new Date().toISOString();
  if (platforms.length === 1) return (await pushImage(registry, repository, tag, platforms[0]!, created)).digest;
  const manifests = [];
  for (const platform of platforms) {
    const child = await pushImage(registry, repository, sha256(randomBytes(8)).replace("sha256:", "p-").slice(0, 20), platform, created);
    const [os, architecture, variant] = platform.split("/");
    manifests.push({ mediaType: OCI_MANIFEST, digest: child.digest, size: child.size, platform: { os, architecture, ...(variant ? { variant } : {}) } });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  return registry.writeManifest(repository, tag, { digest: sha256(index), mediaType: OCI_INDEX, bytes: index });
}
