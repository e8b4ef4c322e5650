import { createHash } from "node:crypto";
/** Test doubles of ports for use-case unit tests (never used in integration tests or the demo). */
import { parseConfig, type RippleConfig } from "../../../shared/config.js";
import type { ImageIndexFacts, ImageManifestFacts, ManifestFacts } from "../../../shared/domain/image-facts.js";
import type { RegistryEvent } from "../../../shared/domain/registry-event.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";
import type { ImageRegistry } from "../../../shared/ports/image-registry.js";
import type { QueueName, WorkQueue } from "../../../shared/ports/work-queue.js";
import type { SourceRepositories } from "../../../shared/ports/source-repository.js";
import { createBaseLayerCatalog } from "../../../shared/use-cases/base-layer-catalog.js";
import type { ProcessDeps } from "../../../shared/use-cases/process-registry-event.js";

export const REGISTRY = "registry.test:5000";

export function digestOf(name: string): string {
  return `sha256:${createHash("sha256").update(name).digest("hex")}`;
}

export function image(name: string, diffIds: string[], annotations: Record<string, string> = {}, platform: ImageManifestFacts["platform"] = { os: "linux", architecture: "amd64", variant: null }): ImageManifestFacts {
  return {
    kind: "image",
    digest: digestOf(name),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    configDigest: digestOf(`config-${name}`),
    layers: diffIds.map((layer) => digestOf(`gz-${layer}`)),
    diffIds: diffIds.map((layer) => digestOf(layer)),
    annotations,
    labels: {},
    created: null,
    platform,
  };
}

export function index(name: string, children: ImageManifestFacts[]): ImageIndexFacts {
  return {
    kind: "index",
    digest: digestOf(name),
    mediaType: "application/vnd.oci.image.index.v1+json",
    annotations: {},
    children: children.map((child) => ({ digest: child.digest, mediaType: child.mediaType, platform: child.platform })),
  };
}

export function createFakeRegistry(host = REGISTRY) {
  const manifests = new Map<string, ManifestFacts>();
  const registry: ImageRegistry & { put(repository: string, facts: ManifestFacts, tag?: string): void; reads: number } = {
    host,
    reads: 0,
    async readManifest(repository, reference) {
      registry.reads += 1;
      return manifests.get(`${repository}@${reference}`) ?? null;
    },
    async listRepositories() {
      return [...new Set([...manifests.keys()].map((key) => key.split("@")[0]!))].sort();
    },
    async listTags() {
      return [];
    },
    put(repository, facts, tag) {
      manifests.set(`${repository}@${facts.digest}`, facts);
      if (tag) manifests.set(`${repository}@${tag}`, facts);
      if (facts.kind === "index") return;
    },
  };
  return registry;
}

export function createRecordingQueue() {
  const messages: { queue: QueueName; message: unknown; delaySeconds?: number }[] = [];
  const poisoned: { queue: QueueName; message: unknown }[] = [];
  const queue: WorkQueue & { messages: typeof messages; poisoned: typeof poisoned; take(name: QueueName): unknown[] } = {
    messages,
    poisoned,
    async enqueue(name, message, options) {
      messages.push({ queue: name, message, ...(options?.delaySeconds ? { delaySeconds: options.delaySeconds } : {}) });
    },
    async deadLetter(name, message) {
      poisoned.push({ queue: name, message });
    },
    /** Removes and returns the messages of one queue (a worker "receiving" them). */
    take(name) {
      const taken = messages.filter((entry) => entry.queue === name);
      for (const entry of taken) messages.splice(messages.indexOf(entry), 1);
      return taken.map((entry) => entry.message);
    },
  };
  return queue;
}

/** Files of "repositories", keyed `repository@revision:path`. */
export function createFakeSources(files: Record<string, string> = {}) {
  const sources: SourceRepositories & { files: Record<string, string> } = {
    files,
    canRead: (repository) => Object.keys(files).some((key) => key.startsWith(`${repository}@`)),
    async readFile(repository, revision, path) {
      return files[`${repository}@${revision}:${path}`] ?? null;
    },
  };
  return sources;
}

export const testConfig: RippleConfig = parseConfig(
  JSON.stringify({
    version: 1,
    registries: [{ host: REGISTRY, kind: "distribution" }],
    bases: [{ image: `${REGISTRY}/ripple/busybox`, tags: ["*"] }, { image: `${REGISTRY}/ripple/company`, tags: ["1"] }],
  }),
);

export function createDeps(config: RippleConfig = testConfig) {
  const store = createMemoryStateStore();
  const queue = createRecordingQueue();
  const registry = createFakeRegistry();
  const sources = createFakeSources();
  let clock = Date.parse("2026-11-23T10:00:00.000Z");
  const deps: ProcessDeps & { queue: typeof queue } = {
    store,
    queue,
    config,
    registryFor: (host) => (host === registry.host ? registry : null),
    layers: createBaseLayerCatalog({ store, config }),
    sources,
    now: () => new Date((clock += 1000)),
  };
  return { deps, store, queue, registry, sources };
}

export function pushEvent(repository: string, tag: string | null, digest: string, at: string, registry = REGISTRY): RegistryEvent {
  return { id: `${repository}-${tag}-${at}`, source: "distribution", action: "push", registry, repository, tag, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", occurredAt: at };
}
