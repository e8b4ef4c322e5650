/**
 * A place in a file where an image reference is written, and how to change its digest there. Shared by
 * the Dockerfile and YAML readers of `pins.ts`; offsets index the file's text (a BOM counts as one).
 */

/** Replaces `[start, end)` of the text with `replacement(newDigest)`. */
export interface SiteEdit {
  readonly start: number;
  readonly end: number;
  readonly replacement: (digest: string) => string;
}

export interface ReferenceSite {
  /** Normalized `registry/repository`. */
  readonly name: string;
  /** The tag as written; `latest` for a bare name; null for a digest-only reference. */
  readonly tag: string | null;
  readonly digest: string | null;
  /** The reference as written (after `ARG` substitution in a Dockerfile), not normalized. */
  readonly text: string;
  /**
   * With a digest: the span of the digest text, replaced by the new digest. Without one: where the digest
   * is added to pin the reference. Null when the reference cannot be changed in place.
   */
  readonly edit: SiteEdit | null;
}

/** Replaces a digest written at `[start, end)`. */
export function replaceDigestAt(start: number, end: number): SiteEdit {
  return { start, end, replacement: (digest) => digest };
}

/** Appends `@digest` at `offset`. */
export function appendDigestAt(offset: number): SiteEdit {
  return { start: offset, end: offset, replacement: (digest) => `@${digest}` };
}
