import type { Services } from "../composition.js";
import { listFailedEvents, toEventListing } from "../use-cases/list-failed-events.js";
import { replayEvent } from "../use-cases/replay-event.js";
import { printJson, printTable, shortDigest } from "./output.js";

/** How many of the newest events (or of the newest failed ones) `ripple events` reads. */
const EVENTS_READ = 2000;

/**
 * `ripple events [--failed]`: the newest recorded events with what Ripple did, or the failed ones
 * however old (from the store's failed-event index, not a filter over the newest events).
 */
export async function eventsCommand(services: Services, options: { failed: boolean; json: boolean }): Promise<number> {
  const events = options.failed ? await listFailedEvents(services, EVENTS_READ) : (await services.store.listEvents(EVENTS_READ)).map(toEventListing);
  if (options.json) return printJson(events), 0;
  if (events.length === 0) {
    process.stdout.write(options.failed ? "no failed events\n" : "no events yet\n");
    return 0;
  }
  printTable(
    events.map((entry) => [entry.receivedAt, entry.status, entry.event === null ? "-" : `${entry.event.registry}/${entry.event.repository}:${entry.event.tag ?? "-"}`, shortDigest(entry.event?.digest ?? null), entry.reason ?? ""]),
    ["RECEIVED", "STATUS", "IMAGE", "DIGEST", "REASON"],
  );
  if (options.failed) process.stdout.write("replay one with: ripple replay KEY (the keys are in --json)\n");
  return 0;
}

/** `ripple replay KEY`: queues a failed event again. */
export async function replayCommand(services: Services, key: string, json: boolean): Promise<number> {
  const record = await replayEvent(services, key);
  if (json) return printJson({ key: record.key, status: record.status, reason: record.reason }), 0;
  process.stdout.write(`event ${record.key} queued again\n`);
  return 0;
}
