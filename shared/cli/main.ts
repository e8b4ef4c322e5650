#!/usr/bin/env node
/** The `ripple` command. */
import { parseArgs } from "node:util";
import { configJsonSchema } from "../config.js";
import { demoCommand } from "./demo.js";
import { extractCommand } from "./extract-command.js";
import { ingestCommand } from "./ingest-command.js";
import { printJson, reportError, UsageError } from "./output.js";
import { bumpCommand } from "./bump-command.js";
import { campaignCommand, campaignsCommand, graphCommand, impactCommand, lineageCommand, outdatedCommand, prsCommand, runsCommand } from "./query-commands.js";
import { scanCommand } from "./scan-command.js";
import { upstreamCommand } from "./upstream-command.js";
import { eventsCommand, replayCommand } from "./events-command.js";
import { configCheckCommand } from "./config-check-command.js";
import { doctorCommand } from "./doctor-command.js";
import { alertsCommand, slaCommand, waiveCommand } from "./sla-commands.js";
import { cliServices } from "./services.js";
import { stackDown, stackUp } from "./stack-command.js";

const HELP = `ripple — base-image patch pipeline for Azure Container Registry

Usage: ripple <command> [options]

Local stack
  stack up [--config FILE] [--persist] [--identity] [--json]
                                                  start registry, Azurite, functions host; stays in the
                                                  foreground until Ctrl-C, SIGTERM or 'stack down';
                                                  --identity: storage by managed identity, no account key
  stack down                                      stop the stack started by 'stack up' and every server of
                                                  it (also those a killed 'stack up' left behind)
  demo [--identity] [--no-annotations]            run the whole pipeline on a fresh local stack;
                                                  --no-annotations: images carry no base annotations
                                                  (as ACR Tasks builds them): edges from layers and Dockerfiles

Events
  ingest [--dry-run] [--json] FILE|-              validate, normalize and record a registry event file
                                                  (Event Grid, CloudEvents, ACR webhook, Distribution)
  events [--failed] [--json]                      the newest recorded events (or the failed ones)
  replay KEY [--json]                             queue a failed event again (after fixing its cause)

Dockerfiles and pinned references
  extract [--json] FILE...                        image references of Dockerfiles
  bump FILE --image NAME[:TAG][@sha256:OLD] --digest sha256:NEW [--pin] [--write]
                                                  rewrite one image's digest byte for byte (stdout, or in place)

Repositories and pull requests
  scan [--json]                                   rescan configured repositories for digest pins; summary
  prs [--json]                                    Ripple's pull requests with the pins they move

Graph (reads the running stack, or the storage named by AzureWebJobsStorage)
  graph [--json]                                  tags, edges with evidence, cycles
  impact IMAGE [--json]                           everything built on a base tag, in rebuild waves
  lineage IMAGE [--json]                          the chain of bases of an image
  outdated [--json]                               dependents built on a non-current base digest
  campaigns [--json]                              patch campaigns and their obligations
  campaign ID [--json]                            one campaign: each obligation's state, run, timings, logs
  runs [--json]                                   rebuild runs, newest first

SLA and alerts
  sla [--json]                                    open obligations by risk: due, late by or time left, the
                                                  stuck step, waivers (exit 1 when one is late or failed)
  alerts [--json]                                 each campaign's alert, its items and every sink's delivery
  waive (--campaign ID | --dependent GLOB)... --until TIME|DURATION --reason TEXT [--by NAME]
                                                  pause alerts until a time (at most 30 days), recorded

Upstream bases
  upstream [--json]                               watched upstream tags: digest, first seen, last and next
                                                  check, mirror, last error

Configuration
  schema                                          JSON Schema of ripple.yaml
  config check FILE [--json]                      validate a configuration and check, offline, the settings
                                                  and choices it implies (one line per check, with a fix)
  doctor [--json]                                 read-only: the identity's tokens, storage and queues,
                                                  registries (with tasks: ARM roles and the Event Grid
                                                  subscription), watched upstreams and repositories

Options
  --json     machine-readable output (shapes in README.md)
  --help     this text
`;

/** Every option of every command (parseArgs is strict: an unknown one is a usage error). */
const OPTIONS = {
  json: { type: "boolean", default: false },
  "dry-run": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  config: { type: "string" },
  persist: { type: "boolean", default: false },
  image: { type: "string" },
  digest: { type: "string" },
  pin: { type: "boolean", default: false },
  write: { type: "boolean", default: false },
  identity: { type: "boolean", default: false },
  failed: { type: "boolean", default: false },
  "no-annotations": { type: "boolean", default: false },
  campaign: { type: "string" },
  dependent: { type: "string" },
  until: { type: "string" },
  reason: { type: "string" },
  by: { type: "string" },
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: OPTIONS,
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const json = values.json ?? false;
  switch (command) {
    case "stack":
      if (rest[0] === "up") return stackUp({ persist: values.persist ?? false, json, identity: values.identity ?? false, ...(values.config ? { configFile: values.config } : {}) });
      if (rest[0] === "down") return stackDown();
      throw new UsageError("stack takes 'up' or 'down'");
    case "demo":
      return demoCommand({ identity: values.identity ?? false, annotations: !(values["no-annotations"] ?? false) });
    case "ingest":
      if (rest.length !== 1) throw new UsageError("ingest takes one FILE (or - for standard input)");
      return ingestCommand(rest[0]!, { dryRun: values["dry-run"] ?? false, json });
    case "extract":
      if (rest.length === 0) throw new UsageError("extract takes at least one FILE");
      return extractCommand(rest, json);
    case "bump":
      if (rest.length !== 1 || values.image === undefined || values.digest === undefined) throw new UsageError("bump takes one FILE, --image and --digest");
      return bumpCommand(rest[0]!, { image: values.image, digest: values.digest, pin: values.pin ?? false, write: values.write ?? false });
    case "scan":
      return scanCommand(await cliServices(), json);
    case "prs":
      return prsCommand(await cliServices(), json);
    case "graph":
      return graphCommand(await cliServices(), json);
    case "impact":
    case "lineage":
      if (rest.length !== 1) throw new UsageError(`${command} takes one IMAGE`);
      return command === "impact" ? impactCommand(await cliServices(), rest[0]!, json) : lineageCommand(await cliServices(), rest[0]!, json);
    case "outdated":
      return outdatedCommand(await cliServices(), json);
    case "campaigns":
      return campaignsCommand(await cliServices(), json);
    case "campaign":
      if (rest.length !== 1) throw new UsageError("campaign takes one campaign ID");
      return campaignCommand(await cliServices(), rest[0]!, json);
    case "runs":
      return runsCommand(await cliServices(), json);
    case "upstream":
      return upstreamCommand(await cliServices(), json);
    case "events":
      return eventsCommand(await cliServices(), { failed: values.failed ?? false, json });
    case "replay":
      if (rest.length !== 1) throw new UsageError("replay takes one event KEY (see ripple events --failed --json)");
      return replayCommand(await cliServices(), rest[0]!, json);
    case "sla":
      return slaCommand(await cliServices(), json);
    case "alerts":
      return alertsCommand(await cliServices(), json);
    case "waive":
      if (rest.length !== 0) throw new UsageError("waive takes --campaign and/or --dependent, --until and --reason");
      return waiveCommand(await cliServices(), { campaign: values.campaign, dependent: values.dependent, until: values.until, reason: values.reason, by: values.by }, json);
    case "schema":
      printJson(configJsonSchema());
      return 0;
    case "doctor":
      return doctorCommand(await cliServices(), json);
    case "config":
      if (rest[0] !== "check" || rest.length !== 2) throw new UsageError("config takes 'check FILE'");
      return configCheckCommand(rest[1]!, json);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

// Idle keep-alive sockets of the SDK clients must not keep a finished command alive.
const exitSoon = (): void => void setTimeout(() => process.exit(), 200).unref();
run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (error: unknown) => {
    const message = error instanceof Error && "code" in error && String((error as { code: unknown }).code).startsWith("ERR_PARSE_ARGS") ? new UsageError(error.message) : error;
    process.exitCode = reportError(message);
    exitSoon();
  },
);
