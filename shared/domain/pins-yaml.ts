/**
 * Image references of YAML files (Compose, Kubernetes, Helm values, GitHub workflows), located in the
 * source through the `yaml` package's node ranges so that a digest can be changed without re-serializing.
 */
import { isAlias, isMap, isScalar, parseAllDocuments, visit, type Document, type Scalar, type YAMLMap } from "yaml";
import { imageName, isDigest, isTag, parseImageRef } from "./image-ref.js";
import { appendDigestAt, replaceDigestAt, type ReferenceSite, type SiteEdit } from "./pins-site.js";

const DOCKER_SCHEME = "docker://";

/**
 * Every image reference of a YAML stream: the value of any `image:` key (a string, or a Helm shape
 * `{registry?, repository, tag?, digest?}`), and with `workflow`, a job's `container:` string and a step's
 * `uses: docker://…`. An `image: *alias` is read where its anchor is (once per alias). A stream with any
 * error gives nothing. Pure; never throws.
 */
export function locateYamlSites(text: string, options: { workflow: boolean }): ReferenceSite[] {
  let documents: Document.Parsed[];
  try {
    // failsafe keeps every scalar a string: `tag: 3.10` must stay "3.10", not become 3.1.
    const parsed = parseAllDocuments(text, { schema: "failsafe" });
    if (!Array.isArray(parsed) || parsed.some((document) => document.errors.length > 0)) return [];
    documents = parsed;
  } catch {
    return [];
  }

  // An alias leads back to its anchor, so a node may be read more than once: callers key sites by offset.
  const sites: ReferenceSite[] = [];
  for (const document of documents) {
    visit(document, {
      Pair(_, pair) {
        if (!isScalar(pair.key)) return;
        const key = String(pair.key.value);
        const value = isAlias(pair.value) ? pair.value.resolve(document) : pair.value;
        if (key === "image" && isScalar(value)) sites.push(...readScalarSite(text, value));
        else if (key === "image" && isMap(value)) sites.push(...readHelmSites(text, value));
        else if (options.workflow && key === "container" && isScalar(value)) sites.push(...readScalarSite(text, value));
        else if (options.workflow && key === "uses" && isScalar(value) && String(value.value).startsWith(DOCKER_SCHEME)) sites.push(...readScalarSite(text, value));
      },
    });
  }
  return sites;
}

/** An `image: alpine:3.20@sha256:…` string (quoted or not, with or without `docker://`). */
function readScalarSite(text: string, scalar: Scalar): ReferenceSite[] {
  const value = String(scalar.value);
  const prefix = value.startsWith(DOCKER_SCHEME) ? DOCKER_SCHEME.length : 0;
  const written = value.slice(prefix);
  const parsed = parseImageRef(written);
  if (!parsed.ok) return [];
  const { digest, tag } = parsed.value;
  const start = findValueStart(text, scalar);
  let edit: SiteEdit | null = null;
  if (digest !== null) edit = locateDigest(text, scalar, start === null ? null : start + prefix + written.indexOf("@") + 1, digest);
  else if (start !== null && written === written.trim()) edit = appendDigestAt(start + value.length);
  return [{ name: imageName(parsed.value), tag, digest, text: written, edit }];
}

/**
 * A Helm image shape: `repository` with an optional `registry`, a `tag` (which may itself carry
 * `@sha256:…`) and a `digest` field. Pinning fills an empty `digest:` field, or else appends to the tag.
 */
function readHelmSites(text: string, map: YAMLMap): ReferenceSite[] {
  const field = (key: string): Scalar | null => {
    const node = map.get(key, true);
    return isScalar(node) ? node : null;
  };
  const repository = field("repository");
  const registry = field("registry");
  const tagNode = field("tag");
  const digestNode = field("digest");
  const repositoryText = repository === null ? "" : String(repository.value);
  const registryText = registry === null || isEmpty(registry) ? "" : String(registry.value);
  if (repositoryText === "") return [];
  const parsed = parseImageRef(registryText === "" ? repositoryText : `${registryText}/${repositoryText}`, { defaultTag: false });
  if (!parsed.ok || parsed.value.tag !== null || parsed.value.digest !== null) return [];

  const tagValue = tagNode === null || isEmpty(tagNode) ? "" : String(tagNode.value);
  const at = tagValue.indexOf("@");
  const tag = at < 0 ? tagValue : tagValue.slice(0, at);
  const tagDigest = at < 0 ? null : tagValue.slice(at + 1);
  if ((tag !== "" && !isTag(tag)) || (tagDigest !== null && !isDigest(tagDigest))) return [];
  const fieldDigest = digestNode === null || isEmpty(digestNode) ? null : String(digestNode.value);
  if (fieldDigest !== null && !isDigest(fieldDigest)) return [];

  const name = imageName(parsed.value);
  const written = `${registryText === "" ? "" : `${registryText}/`}${repositoryText}${tag === "" ? "" : `:${tag}`}`;
  const site = (digest: string | null, edit: SiteEdit | null): ReferenceSite => ({
    name,
    tag: tag === "" ? null : tag,
    digest,
    text: digest === null ? written : `${written}@${digest}`,
    edit,
  });
  const sites: ReferenceSite[] = [];
  if (digestNode !== null && fieldDigest !== null) sites.push(site(fieldDigest, locateDigest(text, digestNode, findValueStart(text, digestNode), fieldDigest)));
  if (tagNode !== null && tagDigest !== null) {
    const start = findValueStart(text, tagNode);
    sites.push(site(tagDigest, locateDigest(text, tagNode, start === null ? null : start + at + 1, tagDigest)));
  }
  if (sites.length > 0) return sites;

  const tagStart = tagNode === null ? null : findValueStart(text, tagNode);
  if (digestNode !== null) return [site(null, fillEmptyScalar(text, digestNode))];
  return [site(null, tag !== "" && tagNode !== null && tagStart !== null ? appendDigestAt(tagStart + tagValue.length) : null)];
}

/** An empty, `~` or `null` plain scalar (failsafe reads them all as strings). */
function isEmpty(scalar: Scalar): boolean {
  const value = String(scalar.value);
  return value === "" || (scalar.type === "PLAIN" && (value === "~" || value === "null" || value === "Null" || value === "NULL"));
}

/** Writes a digest into an empty `digest:` field, keeping its quotes. */
function fillEmptyScalar(text: string, scalar: Scalar): SiteEdit | null {
  const range = scalar.range;
  if (range === null || range === undefined) return null;
  const [start, end] = range;
  if (scalar.type === "QUOTE_DOUBLE" || scalar.type === "QUOTE_SINGLE") {
    const quote = scalar.type === "QUOTE_DOUBLE" ? '"' : "'";
    return text.slice(start, end) === quote + quote ? { start: start + 1, end: end - 1, replacement: (digest) => digest } : null;
  }
  if (scalar.type !== "PLAIN") return null;
  // `digest:` with nothing after the colon needs a space before the value.
  const space = start === end && text[start - 1] === ":" ? " " : "";
  return { start, end, replacement: (digest) => `${space}${digest}` };
}

/**
 * The source offset of the first character of a scalar's value when the source spells the value
 * character for character (plain, or quoted without escapes); else null.
 */
function findValueStart(text: string, scalar: Scalar): number | null {
  const range = scalar.range;
  if (range === null || range === undefined) return null;
  const [start, end] = range;
  const source = text.slice(start, end);
  const value = String(scalar.value);
  if (scalar.type === "PLAIN") return source === value ? start : null;
  if (scalar.type === "QUOTE_SINGLE") return source === `'${value}'` && !value.includes("'") ? start + 1 : null;
  if (scalar.type === "QUOTE_DOUBLE") return source === `"${value}"` ? start + 1 : null;
  return null;
}

/**
 * The digest's span: at `offset` when the value maps onto the source, else its one literal occurrence in
 * the scalar's source (a digest has no characters YAML escapes or folds); null when it is not there once.
 */
function locateDigest(text: string, scalar: Scalar, offset: number | null, digest: string): SiteEdit | null {
  if (offset !== null) return text.startsWith(digest, offset) ? replaceDigestAt(offset, offset + digest.length) : null;
  const range = scalar.range;
  if (range === null || range === undefined) return null;
  const source = text.slice(range[0], range[1]);
  const first = source.indexOf(digest);
  if (first < 0 || source.indexOf(digest, first + 1) >= 0) return null;
  return replaceDigestAt(range[0] + first, range[0] + first + digest.length);
}
