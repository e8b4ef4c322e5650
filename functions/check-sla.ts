import type { InvocationContext, Timer } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { checkSla } from "../shared/use-cases/check-sla.js";

/** Timer: the SLA monitor — evaluates changed or due campaigns, decides their alerts, queues deliveries. */
export async function checkSlaTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const result = await checkSla({ ...services, links: services.alertLinks, publishers: services.eventPublishers, metrics: services.metrics });
  await services.metrics.flush();
  if (result.publishFailures > 0) context.error("Ripple events not published; the campaigns are evaluated again at the next tick", { ...result });
  else if (result.evaluated > 0) context.log("sla checked", { ...result });
}

register.timer("checkSla", { schedule: "%RIPPLE_SLA_SCHEDULE%", handler: checkSlaTimer });
