/** Picks HTML or JSON from a request's `Accept` header: browsers get pages, API callers keep JSON. */

/** The quality (`q`) the header gives one media type by its exact name; 0 when it is not named. */
function qualityOf(accept: string, type: string): number {
  let best = 0;
  for (const part of accept.split(",")) {
    const [name, ...params] = part.split(";").map((piece) => piece.trim().toLowerCase());
    if (name !== type) continue;
    const q = params.find((param) => param.startsWith("q="));
    const value = q === undefined ? 1 : Number(q.slice(2));
    if (Number.isFinite(value)) best = Math.max(best, Math.min(1, Math.max(0, value)));
  }
  return best;
}

/**
 * True when the caller asks for `text/html` and does not prefer `application/json` (a higher `q`). No
 * header, `*\/*` alone or `application/json` answer false: JSON stays the default for API callers.
 */
export function wantsHtml(accept: string | null | undefined): boolean {
  if (accept === null || accept === undefined) return false;
  const htmlQ = qualityOf(accept, "text/html");
  return htmlQ > 0 && htmlQ >= qualityOf(accept, "application/json");
}
