import { dependentKey, type DependencyEdge, type Dependent } from "../domain/dependency.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import { findPins } from "../domain/pins.js";
import type { Forge, SkippedFile } from "../ports/forge.js";
import type { StateStore } from "../ports/state-store.js";
import { settleRebuiltImage } from "./open-campaign.js";
import { resolveTagDigest, tagHolding } from "./tag-lookup.js";

export interface ScanDeps {
  readonly store: StateStore;
  readonly forge: Forge;
  readonly now: () => Date;
}

export interface ScanSummary {
  readonly repository: string;
  readonly unchanged: boolean;
  readonly files: number;
  readonly pins: number;
  /** Files not read, and files read whose pins no pull request can change (a forge's `readOnly`), each with why. */
  readonly skipped: readonly SkippedFile[];
  /** Pins whose image Ripple cannot relate to a tag (a digest no known tag ever held). */
  readonly unrelated: number;
  readonly calls: number;
  readonly rateLimitRemaining: number | null;
}

/**
 * Scans one repository for digest-pinned image references (Dockerfiles, compose, Kubernetes, Helm values,
 * workflow files) and records each as a file-pin edge of the graph, replacing the edges of the previous
 * scan. Conditional: an unchanged repository costs one forge call and changes nothing. A pin without a
 * tag is related to the tag that holds (or held) its digest; one no tag ever held is counted, not guessed.
 * Pins of a file the forge cannot change are recorded too; the file is listed in `skipped` with the reason.
 * Idempotent. @throws the forge's and the store's retryable errors.
 */
export async function scanRepository(deps: ScanDeps, repository: string): Promise<ScanSummary> {
  const previous = await deps.store.getRepositoryScan(repository);
  const scan = await deps.forge.scan(repository, previous === null ? {} : { since: previous.cursor });
  // A read-only file is scanned (its pins are recorded) but no pull request will change it: say why.
  const readOnly = scan.files.flatMap((file) => (file.readOnly === undefined ? [] : [{ path: file.path, reason: file.readOnly }]));
  const skipped = [...scan.skipped, ...readOnly].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const summary = { repository, unchanged: scan.unchanged, files: scan.files.length, skipped, calls: scan.calls, rateLimitRemaining: scan.rateLimitRemaining };
  if (scan.unchanged) return { ...summary, pins: 0, unrelated: 0 };

  const recordedAt = deps.now().toISOString();
  const edges: DependencyEdge[] = [];
  let unrelated = 0;
  for (const file of scan.files) {
    for (const pin of findPins(file.path, file.text)) {
      const ref = parseImageRef(pin.name, { defaultTag: false });
      if (!ref.ok) continue;
      const { registry, repository: imageRepository } = ref.value;
      const tag = pin.tag ?? (await tagHolding(deps.store, registry, imageRepository, pin.digest));
      if (tag === null) {
        unrelated += 1;
        continue;
      }
      const base = tagKey(registry, imageRepository, tag);
      const dependent: Dependent = { kind: "file-pin", repo: repository, path: file.path, line: pin.line, digest: pin.digest };
      const baseDigest = await resolveTagDigest(deps.store, base, pin.digest);
      edges.push({ dependent, base, baseDigest, evidence: "pin", detail: `${file.path}:${pin.line} ${pin.text}`, platform: null, recordedAt });
    }
  }
  // Replace one dependent's edges at a time (a base push processed meanwhile misses at most that one),
  // then drop the dependents that disappeared.
  const dependents = [...new Set(edges.map((edge) => dependentKey(edge.dependent)))];
  for (const key of dependents) {
    await deps.store.removeEdgesOf(key);
    for (const edge of edges) if (dependentKey(edge.dependent) === key) await deps.store.putEdge(edge);
  }
  for (const key of previous?.dependents ?? []) if (!dependents.includes(key)) await deps.store.removeEdgesOf(key);
  // A pin now on a campaign's new digest (its pull request was merged) completes that obligation.
  for (const key of dependents) {
    const own = edges.filter((edge) => dependentKey(edge.dependent) === key);
    await settleRebuiltImage(deps, key, own[0]!.dependent.digest, own, "pinned at");
  }
  await deps.store.putRepositoryScan({ repository, cursor: scan.cursor, revision: scan.revision, scannedAt: recordedAt, dependents });
  return { ...summary, pins: edges.length, unrelated };
}
