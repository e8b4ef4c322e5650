import type { InvocationContext, Timer } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { reconcileRepositories } from "../shared/use-cases/reconcile-repositories.js";

/** Timer: every five minutes, rescan configured repositories and sync pull-request states (missed webhooks heal). */
export async function reconcileRepositoriesTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await reconcileRepositories(await getServices());
  const changed = result.scans.filter((scan) => !scan.unchanged).map((scan) => scan.repository);
  context.log("repositories reconciled", { scanned: result.scans.length, changed, settled: result.settled, errors: result.errors });
}

register.timer("reconcileRepositories", { schedule: "0 */5 * * * *", handler: reconcileRepositoriesTimer });
