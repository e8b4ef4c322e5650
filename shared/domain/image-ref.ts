/**
 * Image references, normalized the way Docker does: `alpine` is `docker.io/library/alpine`,
 * the registry host is lowercase, `index.docker.io` is `docker.io`, and an untagged, undigested
 * reference means `latest`.
 */
export interface ImageRef {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | null;
  readonly digest: string | null;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export const DOCKER_HUB = "docker.io";

/** The distribution grammar's limit on a repository name, counted with its registry (`docker.io/library/…`). */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** The digest of the reference grammar: an algorithm and at least 128 bits in hex. */
const REFERENCE_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** The algorithms Docker verifies (go-digest), with the length of their lowercase hex digests. */
const DIGEST_HEX_LENGTHS: ReadonlyMap<string, number> = new Map([["sha256", 64], ["sha384", 96], ["sha512", 128]]);
/** A name that is only 64 hex characters is an image ID; Docker refuses it as a repository. */
const IMAGE_ID = /^[a-f0-9]{64}$/;

/** An OCI digest; a `sha256:` digest must be exactly 64 lowercase hex characters, as registries require. */
export function isDigest(text: string): boolean {
  return text.startsWith("sha256:") ? SHA256.test(text) : DIGEST.test(text);
}

export function isSha256Digest(text: string): boolean {
  return SHA256.test(text);
}

export function isTag(text: string): boolean {
  return TAG.test(text);
}

/**
 * Why a digest cannot stand in an image reference, or null when it can: the reference grammar, then what
 * Docker verifies (sha256, sha384 or sha512, lowercase hex of the algorithm's length).
 */
function checkReferenceDigest(digest: string): string | null {
  if (!REFERENCE_DIGEST.test(digest)) return `"${digest}" is not a valid digest`;
  const [algorithm = "", hex = ""] = digest.split(":");
  const length = DIGEST_HEX_LENGTHS.get(algorithm);
  if (length === undefined) return `"${digest}" is not a valid digest: the algorithm must be sha256, sha384 or sha512`;
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) return `"${digest}" is not a valid digest: a ${algorithm} digest has ${length} lowercase hex characters`;
  return null;
}

/** A digest that can stand in an image reference (`name@digest`) and that Docker can verify. */
export function isReferenceDigest(text: string): boolean {
  return checkReferenceDigest(text) === null;
}

/** Lowercases a registry host and folds Docker Hub's aliases into `docker.io`. */
export function normalizeRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  if (lower === "index.docker.io" || lower === "registry-1.docker.io" || lower === "registry.hub.docker.com") return DOCKER_HUB;
  return lower;
}

/**
 * Parses a reference such as `alpine:3.20@sha256:…` or `127.0.0.1:5000/team/app`, refusing with a reason
 * what Docker's reference grammar refuses: a name over 255 characters (counted normalized, registry
 * included), a tag over 128 characters or outside `[\w][\w.-]*`, a path component other than lowercase
 * alphanumerics joined by `.`, `_`, `__` or dashes, a registry host that is not a host name or `[IPv6]`
 * with an optional port, a digest other than sha256/sha384/sha512 in lowercase hex of their length, and a
 * bare 64-hex name (an image ID). Never throws.
 */
export function parseImageRef(text: string, options: { defaultTag?: boolean } = {}): ParseResult<ImageRef> {
  const raw = text.trim();
  if (raw === "") return { ok: false, reason: "empty image reference" };
  if (/\s/.test(raw)) return { ok: false, reason: `image reference "${raw}" contains white space` };

  let rest = raw;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = checkReferenceDigest(digest);
    if (problem !== null) return { ok: false, reason: problem };
  }

  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) return { ok: false, reason: `"${tag}" is not a valid tag` };
  }

  let registry = DOCKER_HUB;
  let path = rest;
  const firstSlash = rest.indexOf("/");
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()) {
      if (!HOST.test(first)) return { ok: false, reason: `"${first}" is not a valid registry host` };
      registry = normalizeRegistryHost(first);
      path = rest.slice(firstSlash + 1);
    }
  }
  if (path === "") return { ok: false, reason: `image reference "${raw}" has no repository` };
  if (IMAGE_ID.test(raw)) return { ok: false, reason: `"${raw}" is a 64-hex image ID, not a repository name` };
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) return { ok: false, reason: `"${path}" is not a valid repository name` };
  }
  const name = `${registry}/${path}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    return { ok: false, reason: `repository name "${name.slice(0, 48)}…" has ${name.length} characters; the limit is ${NAME_TOTAL_LENGTH_MAX}` };
  }
  if (tag === null && digest === null && options.defaultTag !== false) tag = "latest";
  return { ok: true, value: { registry, repository: path, tag, digest } };
}

/** `registry/repository[:tag][@digest]`, the canonical text of a reference. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag === null ? "" : `:${ref.tag}`}${ref.digest === null ? "" : `@${ref.digest}`}`;
}

/** `registry/repository`, the image's name without tag or digest. */
export function imageName(ref: Pick<ImageRef, "registry" | "repository">): string {
  return `${ref.registry}/${ref.repository}`;
}

/** `registry/repository:tag`: the key of a tag (a base or a tagged dependent) in the graph. */
export function tagKey(registry: string, repository: string, tag: string): string {
  return `${registry}/${repository}:${tag}`;
}

/** The parts of a tag key (`registry/repository:tag`); null when the text is not one. */
export function splitTagKey(key: string): { registry: string; repository: string; tag: string } | null {
  const slash = key.indexOf("/");
  const colon = key.lastIndexOf(":");
  if (slash <= 0 || colon <= slash) return null;
  const repository = key.slice(slash + 1, colon);
  const tag = key.slice(colon + 1);
  if (repository === "" || !isTag(tag)) return null;
  return { registry: key.slice(0, slash), repository, tag };
}
