import { readFile } from "node:fs/promises";
import { toPublicEvent } from "../domain/registry-event.js";
import { AppError } from "../errors.js";
import { parseRegistryPayload } from "../use-cases/parse-registry-notification.js";
import { recordEvents } from "../use-cases/receive-notification.js";
import { printJson, printTable, shortDigest } from "./output.js";
import { cliServices } from "./services.js";

async function readInput(file: string): Promise<string> {
  if (file === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new AppError("file_unreadable", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/**
 * `ripple ingest [--dry-run] [--json] FILE|-`: the same validation as the webhook; without --dry-run
 * the events are recorded and queued exactly as a delivery would be.
 */
export async function ingestCommand(file: string, options: { dryRun: boolean; json: boolean }): Promise<number> {
  // The same clock check as the webhook: an event dated beyond now plus the allowed skew is refused.
  const outcome = parseRegistryPayload(await readInput(file), undefined, { now: new Date() });
  const events = outcome.kind === "events" ? outcome.events : [];
  let summary: string | null = null;
  if (!options.dryRun) {
    const services = await cliServices();
    const result = await recordEvents(services, events, outcome.kind === "events" ? outcome.ignored.length : 0);
    if (result.kind === "recorded") summary = `recorded: ${result.accepted} accepted, ${result.duplicates} duplicate(s), ${result.ignored} ignored`;
  }
  if (options.json) {
    printJson(events.map(toPublicEvent));
  } else {
    printTable(
      events.map((event) => [event.action, event.registry, event.repository, event.tag ?? "-", shortDigest(event.digest), event.mediaType ?? "-"]),
      ["ACTION", "REGISTRY", "REPOSITORY", "TAG", "DIGEST", "MEDIA TYPE"],
    );
    if (outcome.kind === "handshake") process.stdout.write("(a validation handshake, no events)\n");
    if (summary !== null) process.stdout.write(`${summary}\n`);
  }
  return 0;
}
