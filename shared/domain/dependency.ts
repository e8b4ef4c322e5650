/** Edges of the base-digest dependency graph and the records of a patch campaign. */

/**
 * How Ripple knows of an edge: the image's OCI base annotations, its layers starting with the base's,
 * the final stage of its Dockerfile, the configuration, or a file that pins the base by digest.
 */
export type Evidence = "annotation" | "layer-prefix" | "dockerfile" | "config" | "pin";

/** Who depends on a base: a registry image (rebuilt) or a pinned reference in a git file (bumped by PR). */
export type Dependent =
  | { readonly kind: "image"; readonly registry: string; readonly repository: string; readonly tag: string; readonly digest: string }
  | { readonly kind: "file-pin"; readonly repo: string; readonly path: string; readonly line: number; readonly digest: string };

/**
 * `dependent` is built on (or pins) `baseDigest` of the base tag `base` (a tag key,
 * `registry/repository:tag`). `detail` says what the evidence was (the annotation value, the
 * number of shared layers, the Dockerfile line, the configuration entry).
 */
export interface DependencyEdge {
  readonly dependent: Dependent;
  readonly base: string;
  readonly baseDigest: string;
  readonly evidence: Evidence;
  readonly detail: string;
  readonly platform: string | null;
  readonly recordedAt: string;
}

/** `image:registry/repo:tag` or `file:repo:path:line`: the stable id of a dependent. */
export function dependentKey(dependent: Dependent): string {
  return dependent.kind === "image"
    ? `${dependent.registry}/${dependent.repository}:${dependent.tag}`
    : `file:${dependent.repo}:${dependent.path}:${dependent.line}`;
}
