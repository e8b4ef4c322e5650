/**
 * Digest-pinned image references in repository files, and the byte-exact rewrite that moves a pin to a
 * new digest (issue #4: pull requests that bump pinned digests downstream).
 *
 * Which digest to move to is the caller's choice: a pin to a multi-arch index digest moves to the new
 * index digest, a pin to one platform's manifest digest to that platform's new manifest digest.
 */
import { locateImages } from "./dockerfile.js";
import { imageName, isDigest, parseImageRef } from "./image-ref.js";
import { appendDigestAt, replaceDigestAt, type ReferenceSite, type SiteEdit } from "./pins-site.js";
import { locateYamlSites } from "./pins-yaml.js";

export type PinFileKind = "dockerfile" | "compose" | "kubernetes" | "helm-values" | "workflow" | "yaml";

/** One digest-pinned image reference of a file. */
export interface Pin {
  path: string;
  /** 1-based line on which the digest is written (for `FROM $BASE`, the line of `ARG BASE=…`). */
  line: number;
  kind: PinFileKind;
  /** Normalized `registry/repository` (`alpine` is `docker.io/library/alpine`). */
  name: string;
  /** The tag as written, null for a digest-only reference. */
  tag: string | null;
  digest: string;
  /**
   * The reference as written, not normalized: after `ARG` substitution in a Dockerfile, and for a Helm
   * shape its fields joined as `registry/repository:tag@digest`.
   */
  text: string;
}

/** The image reference to bump: a normalized or short name, the tag to require, and the digest to replace. */
export interface BumpTarget {
  name: string;
  /** Only references with this tag (as written; a bare name counts as `latest`); null for any tag, unless `untagged`. */
  tag: string | null;
  /** The old digest; null for any digest. */
  digest: string | null;
  /**
   * With a null `tag`: only references written without a tag (`alpine`, `alpine@sha256:…`), not
   * `alpine:3.20` nor `alpine:latest`. What `ripple bump --image alpine` means.
   */
  untagged?: boolean;
}

/** The format a file is read in when its name does not tell (`ripple bump --format`). */
export type PinFileFormat = "dockerfile" | "yaml";

/** One changed line, whole, before and after (without its line break). */
export interface BumpChange {
  line: number;
  before: string;
  after: string;
}

export interface BumpResult {
  text: string;
  /** The lines that changed, in order; empty when every matching reference already has the new digest. */
  changes: BumpChange[];
}

const DOCKERFILE = /^(?:[Dd]ocker|[Cc]ontainer)file(?:[^/]*)$|\.(?:[Dd]ocker|[Cc]ontainer)file$/;
const WORKFLOW = /(?:^|\/)\.github\/workflows\/[^/]+\.ya?ml$/;
const COMPOSE = /^(?:docker-)?compose[^/]*\.ya?ml$/;
const HELM_VALUES = /^values[^/]*\.ya?ml$/;
const YAML = /\.ya?ml$/;
const KUBERNETES_API = /^apiVersion:[ \t]*\S/m;
const KUBERNETES_KIND = /^kind:[ \t]*\S/m;

/**
 * Which kind a path is: `Dockerfile*`, `Containerfile*`, `*.Dockerfile`, `*.dockerfile` → dockerfile;
 * `.github/workflows/*.y(a)ml` → workflow; `(docker-)compose*.y(a)ml` → compose; `values*.y(a)ml` →
 * helm-values; any other `*.y(a)ml` → yaml (Kubernetes manifests and anything with `image:`); else null.
 * Windows separators are accepted; `Dockerfile.dockerignore` is not a Dockerfile. `kubernetes` is never
 * returned from a path alone (manifests have no naming convention): {@link findPins} tells it from content.
 */
export function classifyPinFile(path: string): PinFileKind | null {
  const normalized = path.replaceAll("\\", "/");
  const base = normalized.slice(normalized.lastIndexOf("/") + 1);
  if (DOCKERFILE.test(base) && !base.endsWith(".dockerignore")) return "dockerfile";
  if (WORKFLOW.test(normalized)) return "workflow";
  if (COMPOSE.test(base)) return "compose";
  if (HELM_VALUES.test(base)) return "helm-values";
  if (YAML.test(base)) return "yaml";
  return null;
}

/**
 * The kind of a file: by its name ({@link classifyPinFile}), or by `format` when one is given. With
 * `yaml`, a name that tells a YAML kind keeps it (a workflow still reads `container:` and `uses:`).
 */
export function resolvePinFileKind(path: string, format?: PinFileFormat): PinFileKind | null {
  const classified = classifyPinFile(path);
  if (format === undefined) return classified;
  if (format === "dockerfile") return "dockerfile";
  return classified === null || classified === "dockerfile" ? "yaml" : classified;
}

/**
 * Every image reference in the file that carries a digest and can be bumped in place, one per place the
 * digest is written, in the order of those places.
 *
 * Dockerfiles: `FROM` (also through `ARG` defaults, where the digest lives in the `ARG` line), `COPY
 * --from=`, `RUN --mount=…,from=`, and the `# syntax=` directive; stage names and `scratch` are never
 * images. YAML: any `image:` string (Compose services, Kubernetes containers, initContainers and
 * ephemeralContainers in any document of the stream, workflow `container:` / `services:`), a workflow
 * job's `container:` string and `uses: docker://…`, and Helm shapes `image: {registry?, repository, tag?,
 * digest?}` (the digest in the `digest:` field or in the tag). A digest assembled from several places is
 * not reported. A `yaml` file with top-level `apiVersion:` and `kind:` is reported as `kubernetes`.
 * Pure; never throws: a file of no known kind, or a YAML file that does not parse, has no pins.
 */
export function findPins(path: string, text: string, options: { format?: PinFileFormat } = {}): Pin[] {
  const classified = resolvePinFileKind(path, options.format);
  if (classified === null) return [];
  // A byte-order mark before the first key still leaves it at the top level.
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const kind = classified === "yaml" && KUBERNETES_API.test(body) && KUBERNETES_KIND.test(body) ? "kubernetes" : classified;
  const pins = new Map<number, Pin>();
  for (const site of locateSites(classified, text)) {
    if (site.digest === null || site.edit === null || pins.has(site.edit.start)) continue;
    pins.set(site.edit.start, { path, line: lineAt(text, site.edit.start), kind, name: site.name, tag: site.tag, digest: site.digest, text: site.text });
  }
  return [...pins.entries()].sort(([a], [b]) => a - b).map(([, pin]) => pin);
}

/**
 * Replaces the old digest of one image reference with `newDigest` wherever it occurs in the file — the
 * `FROM` line, the `ARG` default a `FROM` expands, `COPY --from=`, `RUN --mount=…,from=`, the `# syntax=`
 * directive, every YAML occurrence, a Helm `digest:` field — and leaves every other byte as it was:
 * comments, quotes, spacing, CRLF or LF, the BOM, the tag text, other images' digests, the escape character.
 *
 * References match by normalized name (`alpine`, `library/alpine` and `docker.io/library/alpine` are one
 * image), by tag when the target has one (with `untagged`, only references written without a tag), and
 * by current digest when the target has one. `format` reads a file of any name as a Dockerfile or as
 * YAML. With `pin`, a matching reference without a digest gets `@newDigest` appended (a Helm shape gets
 * its empty `digest:` field filled, or the digest appended to its tag) — Renovate's `pinDigests`.
 *
 * Which digest is new is the caller's choice: a pin to a multi-arch index moves to the new index digest,
 * a pin to one platform's manifest to that platform's new manifest digest.
 *
 * Returns null when no reference matches (or the file is of no known kind, or YAML that does not parse).
 * A reference of that name and tag that already has `newDigest` counts as a match whatever the target's
 * old digest, so a second identical bump returns the same text with no changes. Pure; throws a RangeError
 * only when `newDigest` is not a digest.
 */
export function bumpPins(
  path: string,
  text: string,
  target: BumpTarget,
  newDigest: string,
  options: { pin?: boolean; format?: PinFileFormat } = {},
): BumpResult | null {
  if (!isDigest(newDigest)) throw new RangeError(`"${newDigest}" is not a digest`);
  const kind = resolvePinFileKind(path, options.format);
  const wanted = parseImageRef(target.name, { defaultTag: false });
  if (kind === null || !wanted.ok) return null;
  const name = imageName(wanted.value);

  const edits = new Map<number, SiteEdit>();
  for (const site of locateSites(kind, text)) {
    if (site.edit === null || site.name !== name || !matchesTag(site, target)) continue;
    // A reference already on the new digest matches too, so that bumping twice is not an error.
    const matches = site.digest === null ? options.pin === true : target.digest === null || site.digest === target.digest || site.digest === newDigest;
    if (matches) edits.set(site.edit.start, site.edit);
  }
  if (edits.size === 0) return null;
  const rewritten = applyEdits(text, [...edits.values()], newDigest);
  return { text: rewritten, changes: diffLines(text, rewritten) };
}

function matchesTag(site: ReferenceSite, target: BumpTarget): boolean {
  if (target.tag !== null) return site.tag === target.tag;
  if (target.untagged !== true) return true;
  // The site's tag is `latest` for a bare name; only the text tells whether a tag was written.
  const written = parseImageRef(site.text, { defaultTag: false });
  return written.ok && written.value.tag === null;
}

function locateSites(kind: PinFileKind, text: string): ReferenceSite[] {
  return kind === "dockerfile" ? locateDockerfileSites(text) : locateYamlSites(text, { workflow: kind === "workflow" });
}

function locateDockerfileSites(text: string): ReferenceSite[] {
  return locateImages(text).flatMap(({ image, reference, digestSpan, pinOffset }): ReferenceSite[] => {
    if (image.unresolved || reference === null) return [];
    const edit = digestSpan !== null ? replaceDigestAt(digestSpan.start, digestSpan.end) : pinOffset !== null && image.digest === null ? appendDigestAt(pinOffset) : null;
    return [{ name: image.name, tag: image.tag, digest: image.digest, text: reference, edit }];
  });
}

/** Applies non-overlapping edits from last to first, so earlier offsets stay valid. */
function applyEdits(text: string, edits: readonly SiteEdit[], digest: string): string {
  let result = text;
  let limit = Number.POSITIVE_INFINITY;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    if (edit.end > limit) continue;
    result = result.slice(0, edit.start) + edit.replacement(digest) + result.slice(edit.end);
    limit = edit.start;
  }
  return result;
}

/** Edits never add or remove line breaks, so line N before is line N after. */
function diffLines(before: string, after: string): BumpChange[] {
  const oldLines = splitLines(before);
  const newLines = splitLines(after);
  const changes: BumpChange[] = [];
  oldLines.forEach((line, index) => {
    const changed = newLines[index] ?? "";
    if (changed !== line) changes.push({ line: index + 1, before: line, after: changed });
  });
  return changes;
}

function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, "").split("\n").map((line) => line.replace(/\r$/, ""));
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let index = text.indexOf("\n"); index >= 0 && index < offset; index = text.indexOf("\n", index + 1)) line += 1;
  return line;
}
