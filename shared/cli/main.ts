#!/usr/bin/env node
/** The `ripple` command. */
import { parseArgs } from "node:util";
import type { Services } from "../composition.js";
import { printJson, reportError, UsageError } from "./output.js";

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
  bump FILE --image NAME[:TAG|:*][@sha256:OLD] --digest sha256:NEW [--pin] [--write] [--format dockerfile|yaml]
                                                  rewrite one image's digest byte for byte (stdout, or in place);
                                                  NAME alone: only references without a tag, NAME:* every tag;
                                                  --format: read FILE as that kind whatever its name

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
  config check FILE [--json] [--no-settings]      validate a configuration and check, offline, the settings
                                                  and choices it implies (one line per check, with a fix);
                                                  --no-settings: not the app settings (before a deployment)
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
  format: { type: "string" },
  identity: { type: "boolean", default: false },
  failed: { type: "boolean", default: false },
  "no-annotations": { type: "boolean", default: false },
  "no-settings": { type: "boolean", default: false },
  campaign: { type: "string" },
  dependent: { type: "string" },
  until: { type: "string" },
  reason: { type: "string" },
  by: { type: "string" },
} as const;

/**
 * Parses the command line and runs one command. Each command imports its own modules when it runs, so that
 * `--help`, `extract` and `bump` start without loading the Azure and GitHub SDKs the other commands need.
 */
async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const runCommand = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (runCommand === undefined) throw new UsageError(`unknown command '${command}'`);
  return runCommand({ rest, values, json: values.json ?? false });
}

function parseCommandLine(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
}

type Values = ReturnType<typeof parseCommandLine>["values"];

interface Invocation {
  readonly rest: readonly string[];
  readonly values: Values;
  readonly json: boolean;
}

/** The services of the deployment or local stack the command reads; loads the SDK clients. */
async function services(): Promise<Services> {
  const { cliServices } = await import("./services.js");
  return cliServices();
}

/** Checks a command's arguments before anything is loaded, so that a usage error is quick. */
function checkUsage(condition: boolean, usage: string): asserts condition {
  if (!condition) throw new UsageError(usage);
}

const COMMANDS: Readonly<Record<string, (call: Invocation) => Promise<number>>> = {
  stack: async ({ rest, values, json }) => {
    checkUsage(rest[0] === "up" || rest[0] === "down", "stack takes 'up' or 'down'");
    const { stackDown, stackUp } = await import("./stack-command.js");
    if (rest[0] === "down") return stackDown();
    return stackUp({ persist: values.persist ?? false, json, identity: values.identity ?? false, ...(values.config ? { configFile: values.config } : {}) });
  },
  demo: async ({ values }) => (await import("./demo.js")).demoCommand({ identity: values.identity ?? false, annotations: !(values["no-annotations"] ?? false) }),
  ingest: async ({ rest, values, json }) => {
    checkUsage(rest.length === 1, "ingest takes one FILE (or - for standard input)");
    return (await import("./ingest-command.js")).ingestCommand(rest[0]!, { dryRun: values["dry-run"] ?? false, json });
  },
  extract: async ({ rest, json }) => {
    checkUsage(rest.length > 0, "extract takes at least one FILE");
    return (await import("./extract-command.js")).extractCommand(rest, json);
  },
  bump: async ({ rest, values }) => {
    checkUsage(rest.length === 1 && values.image !== undefined && values.digest !== undefined, "bump takes one FILE, --image and --digest");
    return (await import("./bump-command.js")).bumpCommand(rest[0]!, { image: values.image, digest: values.digest, pin: values.pin ?? false, write: values.write ?? false, format: values.format });
  },
  scan: async ({ json }) => (await import("./scan-command.js")).scanCommand(await services(), json),
  prs: async ({ json }) => (await import("./query-commands.js")).prsCommand(await services(), json),
  graph: async ({ json }) => (await import("./query-commands.js")).graphCommand(await services(), json),
  impact: async ({ rest, json }) => {
    checkUsage(rest.length === 1, "impact takes one IMAGE");
    return (await import("./query-commands.js")).impactCommand(await services(), rest[0]!, json);
  },
  lineage: async ({ rest, json }) => {
    checkUsage(rest.length === 1, "lineage takes one IMAGE");
    return (await import("./query-commands.js")).lineageCommand(await services(), rest[0]!, json);
  },
  outdated: async ({ json }) => (await import("./query-commands.js")).outdatedCommand(await services(), json),
  campaigns: async ({ json }) => (await import("./query-commands.js")).campaignsCommand(await services(), json),
  campaign: async ({ rest, json }) => {
    checkUsage(rest.length === 1, "campaign takes one campaign ID");
    return (await import("./query-commands.js")).campaignCommand(await services(), rest[0]!, json);
  },
  runs: async ({ json }) => (await import("./query-commands.js")).runsCommand(await services(), json),
  upstream: async ({ json }) => (await import("./upstream-command.js")).upstreamCommand(await services(), json),
  events: async ({ values, json }) => (await import("./events-command.js")).eventsCommand(await services(), { failed: values.failed ?? false, json }),
  replay: async ({ rest, json }) => {
    checkUsage(rest.length === 1, "replay takes one event KEY (see ripple events --failed --json)");
    return (await import("./events-command.js")).replayCommand(await services(), rest[0]!, json);
  },
  sla: async ({ json }) => (await import("./sla-commands.js")).slaCommand(await services(), json),
  alerts: async ({ json }) => (await import("./sla-commands.js")).alertsCommand(await services(), json),
  waive: async ({ rest, values, json }) => {
    checkUsage(rest.length === 0, "waive takes --campaign and/or --dependent, --until and --reason");
    const { waiveCommand } = await import("./sla-commands.js");
    return waiveCommand(await services(), { campaign: values.campaign, dependent: values.dependent, until: values.until, reason: values.reason, by: values.by }, json);
  },
  schema: async () => {
    printJson((await import("../config.js")).configJsonSchema());
    return 0;
  },
  doctor: async ({ json }) => (await import("./doctor-command.js")).doctorCommand(await services(), json),
  config: async ({ rest, values, json }) => {
    checkUsage(rest[0] === "check" && rest.length === 2, "config takes 'check FILE'");
    return (await import("./config-check-command.js")).configCheckCommand(rest[1]!, json, values["no-settings"] ? null : process.env);
  },
};

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
