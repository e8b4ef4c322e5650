import { UpstreamError } from "../../errors.js";

/** What a paginated call was doing, for the error a foreign `next` link raises. */
export interface PageContext {
  /** The only origin pages may come from, e.g. `https://registry.example`. */
  readonly origin: string;
  readonly service: string;
  readonly action: string;
}

// One `<target>` and its `; param` list; a comma inside a quoted parameter value does not end it.
const LINK_VALUE = /<([^>]*)>((?:\s*;\s*[^;,=]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g;
const REL_PARAM = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i;

/**
 * The `rel="next"` target of an RFC 8288 `Link` header (`<url>; rel="next"`, several links separated by
 * commas, `rel` possibly listing several relations), resolved against the page it came with. Null when
 * there is no next page.
 * @throws UpstreamError (not retryable) when the next page is on another origin: credentials are never
 *   sent where a response points.
 */
export function nextPageUrl(link: string | null | undefined, current: URL | string, context: PageContext): URL | null {
  if (link === null || link === undefined) return null;
  for (const match of link.matchAll(LINK_VALUE)) {
    const rel = REL_PARAM.exec(match[2] ?? "");
    const relations = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/);
    if (!relations.includes("next")) continue;
    const next = new URL(match[1] ?? "", current);
    if (next.origin !== new URL(context.origin).origin) {
      throw new UpstreamError(context.service, `${context.action}: pagination link points at another host`, { retryable: false });
    }
    return next;
  }
  return null;
}
