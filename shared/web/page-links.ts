/** How the pages link to each other, relative to where each is served under `/api/`. */
import type { RippleConfig } from "../config.js";
import type { PageLinks } from "./layout.js";

/**
 * The links of a page served at `/api/<name>` (`depth` 0: status, runbook) or `/api/campaigns/<id>`
 * (`depth` 1). Relative, so they follow whatever host the reader used; the runbook is
 * `alerts.runbookUrl` when one is configured (the same place alerts point to).
 */
export function pageLinksOf(config: RippleConfig, depth: 0 | 1): PageLinks {
  const up = depth === 0 ? "" : "../";
  return { status: `${up}status`, runbook: config.alerts.runbookUrl ?? `${up}runbook`, campaigns: `${up}campaigns`, logs: `${up}logs` };
}
