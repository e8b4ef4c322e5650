import type { InvocationContext, Timer } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { watchUpstream } from "../shared/use-cases/watch-upstream.js";

/**
 * Timer: checks the watched upstream tags that are due (one manifest HEAD each), records new digests
 * and brings them in (mirror, or an upstream event). Failures stay on each tag (`ripple upstream`) and
 * are retried with back-off; a tag failing five checks in a row is logged as an error.
 */
export async function watchUpstreamTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const summary = await watchUpstream(await getServices());
  if (summary.sightings.length > 0) context.log("upstream digests seen", { sightings: summary.sightings, broughtIn: summary.broughtIn });
  if (summary.errors.length > 0) context.warn("upstream checks failed", { count: summary.errors.length, errors: summary.errors.slice(0, 20) });
  if (summary.failing.length > 0) context.error("upstream tags failing repeatedly (see ripple upstream)", { count: summary.failing.length, failing: summary.failing.slice(0, 20) });
}

// `RIPPLE_UPSTREAM_SCHEDULE` (NCRONTAB with seconds): every 5 s in Azure (infra sets it), every second on
// the local stack. Each tag is checked on its own interval; a tick only checks the tags that are due.
register.timer("watchUpstream", { schedule: "%RIPPLE_UPSTREAM_SCHEDULE%", handler: watchUpstreamTimer });
