/**
 * A small local stand-in for the Azure Functions host (Core Tools cannot be installed here). It serves
 * the definitions `functions/` registered through the real `app.*` calls:
 * - HTTP triggers under `/api/<route>` (route templates with `{name}` and `{name?}`), with Azure's key
 *   check per `authLevel`: `anonymous` none, `function` a host key (or the master key), `admin` the master key;
 * - Event Grid triggers at `/runtime/webhooks/EventGrid?functionName=…` behind the `eventgrid_extension`
 *   system key, with the `aeg-event-type` handshake, Event Grid and CloudEvents schemas, one invocation
 *   per event, 500 on failure;
 * - storage-queue triggers polling Azurite with the Functions semantics: batch, visibility timeout,
 *   dequeue count, `<queue>-poison` after `maxDequeueCount`, backoff to `maxPollingInterval`;
 * - timer triggers on six-field NCRONTAB schedules.
 */
import { PRINCIPAL_HEADERS } from "../http.js";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import functions from "@azure/functions";
import type { HttpResponseInit, InvocationContext as InvocationContextType } from "@azure/functions";
import type { QueueServiceClient, QueueClient } from "@azure/storage-queue";
import { queueServiceFor } from "../adapters/storage-queue/storage-work-queue.js";
import { createAppCredential, storageOptions } from "../composition.js";
import { storageConnectionOf } from "../config.js";
import { CronExpressionParser } from "cron-parser";
import { registeredFunctions, type FunctionDefinition } from "../function-definitions.js";

const { HttpRequest, InvocationContext } = functions;

export interface QueueSettings {
  readonly batchSize: number;
  readonly maxDequeueCount: number;
  readonly visibilityTimeoutMs: number;
  readonly maxPollingIntervalMs: number;
  readonly messageEncoding: "base64" | "none";
}

export interface LocalHostOptions {
  /** Folder of compiled function entry points (`dist/functions`). */
  readonly functionsDir: string;
  /** The app's host.json (queue settings are read from it). */
  readonly hostJsonPath: string;
  /** App settings: binding expressions `%NAME%` and `connection` names are resolved here. */
  readonly settings: Readonly<Record<string, string | undefined>>;
  readonly port?: number;
  readonly log?: (line: string) => void;
  /** Overrides host.json's queue settings (tests use short timeouts). */
  readonly queue?: Partial<QueueSettings>;
  /**
   * Stands in for App Service Authentication (Easy Auth) as Azure runs it in front of the app: every
   * request is signed in as this user (the host listens on loopback only, so whoever reaches it is on this
   * machine) except on {@link SIGN_IN_EXCLUDED_PATHS}, the `x-ms-client-principal-*` headers a client sent
   * are removed first, and `WEBSITE_AUTH_ENABLED` is set. Default `local-user`; null turns sign-in off (pages answer 401).
   */
  readonly signedInUser?: string | null;
  /** The access keys requests must present; default: those named by {@link HOST_KEY_SETTINGS} in `settings`, else fresh random ones. */
  readonly keys?: HostKeys;
}

/**
 * The Functions host's access keys, as Azure keeps them for an app: the host key `default` (opens every
 * `authLevel: "function"` route), the master key `_master` (`admin` routes, and every other level too) and
 * the Event Grid extension's system key `eventgrid_extension` (its webhook, `/runtime/webhooks/EventGrid`).
 * A request presents one as `?code=…` or in the `x-functions-key` header.
 */
export interface HostKeys {
  readonly host: string;
  readonly master: string;
  readonly eventGrid: string;
}

/** The app settings the local stack hands the host its keys in (secrets, like the webhook secret). */
export const HOST_KEY_SETTINGS = { host: "RIPPLE_LOCAL_HOST_KEY", master: "RIPPLE_LOCAL_MASTER_KEY", eventGrid: "RIPPLE_LOCAL_EVENTGRID_KEY" } as const satisfies Record<keyof HostKeys, string>;

/** Fresh random keys (32 bytes each, base64url, as long as Azure's). */
export function generateHostKeys(): HostKeys {
  const key = (): string => randomBytes(32).toString("base64url");
  return { host: key(), master: key(), eventGrid: key() };
}

/** The keys named by {@link HOST_KEY_SETTINGS} in `settings`; null when none is set. @throws Error when only some are. */
export function hostKeysOf(settings: Readonly<Record<string, string | undefined>>): HostKeys | null {
  const entries = Object.entries(HOST_KEY_SETTINGS).map(([name, setting]) => [name, settings[setting] ?? ""] as const);
  if (entries.every(([, value]) => value === "")) return null;
  const missing = entries.filter(([, value]) => value === "").map(([name]) => HOST_KEY_SETTINGS[name as keyof HostKeys]);
  if (missing.length > 0) throw new Error(`app setting ${missing.join(", ")} is not set (the local host needs all its keys)`);
  return Object.fromEntries(entries) as unknown as HostKeys;
}

/** The key a request presents: the `x-functions-key` header, else the `code` query parameter (as the Functions host reads it). */
function presentedKey(headers: IncomingMessage["headers"], url: URL): string | null {
  const header = headers["x-functions-key"];
  if (typeof header === "string" && header !== "") return header;
  return url.searchParams.get("code");
}

/** Whether `presented` is one of `accepted`, compared in constant time (hashing first equalizes lengths). */
function keyMatches(presented: string | null, accepted: readonly string[]): boolean {
  if (presented === null || presented === "") return false;
  const digest = createHash("sha256").update(presented).digest();
  let matched = false;
  for (const key of accepted) matched = timingSafeEqual(digest, createHash("sha256").update(key).digest()) || matched;
  return matched;
}

/** The keys that open an HTTP route of this `authLevel` (null: anonymous, no key needed). */
function keysFor(authLevel: string | undefined, keys: HostKeys): readonly string[] | null {
  if (authLevel === "function") return [keys.host, keys.master];
  if (authLevel === "admin") return [keys.master];
  return null;
}

export interface LocalHost {
  readonly url: string;
  readonly functions: readonly FunctionDefinition[];
  /** The keys it enforces (tests present them; the local stack generated them). */
  readonly keys: HostKeys;
  stop(): Promise<void>;
}

const MAX_BODY = 4 * 1024 * 1024;
/**
 * How long a received message stays invisible between renewals while its handler runs: Azure's queue
 * trigger uses 10 minutes, so a message a dead host held comes back only after that — here too, so the
 * local stack shows what a killed worker costs in Azure (Ripple's sweeps, not the message's return,
 * take such work over).
 */
const LEASE_SECONDS = 600;

/**
 * The paths Ripple's infra excludes from App Service Authentication's sign-in requirement
 * (`excludedPaths` in infra/modules/pages-auth.bicep): each authenticates requests itself (a shared secret,
 * a signature, a function or system key). The local host signs nobody in on them, as Azure does for a caller
 * without a session (a script, a webhook sender).
 */
export const SIGN_IN_EXCLUDED_PATHS = ["/api/registry/events", "/api/github/events", "/api/waivers", "/runtime/webhooks/eventgrid"] as const;

function isSignInExcluded(pathname: string): boolean {
  const path = pathname.toLowerCase().replace(/\/+$/, "");
  return (SIGN_IN_EXCLUDED_PATHS as readonly string[]).includes(path);
}

/** A request's headers as App Service Authentication passes them on: client-sent principal headers dropped, the signed-in user's added. */
function signedIn(incoming: IncomingMessage["headers"], user: string | null): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(incoming)) {
    if (typeof value === "string" && !(PRINCIPAL_HEADERS as readonly string[]).includes(key.toLowerCase())) headers[key] = value;
  }
  if (user !== null) Object.assign(headers, { "x-ms-client-principal-name": user, "x-ms-client-principal-id": user, "x-ms-client-principal-idp": "local" });
  return headers;
}

function parseTimeSpan(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text);
  if (!match) return fallbackMs;
  const [, days, hours, minutes, seconds] = match;
  return ((Number(days ?? 0) * 24 + Number(hours)) * 3600 + Number(minutes) * 60 + Number(seconds)) * 1000;
}

export async function readQueueSettings(hostJsonPath: string): Promise<QueueSettings> {
  const host = JSON.parse(await readFile(hostJsonPath, "utf8")) as { extensions?: { queues?: Record<string, unknown> } };
  const queues = host.extensions?.queues ?? {};
  return {
    batchSize: Number(queues["batchSize"] ?? 16),
    maxDequeueCount: Number(queues["maxDequeueCount"] ?? 5),
    visibilityTimeoutMs: parseTimeSpan(queues["visibilityTimeout"] as string | undefined, 0),
    maxPollingIntervalMs: parseTimeSpan(queues["maxPollingInterval"] as string | undefined, 60_000),
    messageEncoding: queues["messageEncoding"] === "none" ? "none" : "base64",
  };
}

/** Resolves `%NAME%` binding expressions from the app settings, as the Functions host does. */
export function resolveBindingExpression(text: string, settings: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/%([A-Za-z0-9_]+)%/g, (_, name: string) => {
    const value = settings[name];
    if (value === undefined) throw new Error(`app setting ${name} is not set (used in binding "${text}")`);
    return value;
  });
}

/** Turns a Functions route template into a matcher returning the route parameters. */
export function compileRoute(template: string): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  const pattern = template
    .split("/")
    .map((segment) => {
      const param = /^\{(\w+)(\?)?(?::[^}]*)?\}$/.exec(segment);
      if (!param) return `/${segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`;
      names.push(param[1]!);
      return param[2] ? "(?:/([^/]+))?" : "/([^/]+)";
    })
    .join("");
  const regex = new RegExp(`^${pattern}/?$`, "i");
  return (path) => {
    const match = regex.exec(path);
    if (!match) return null;
    const params: Record<string, string> = {};
    names.forEach((name, index) => {
      const value = match[index + 1];
      if (value !== undefined) params[name] = decodeURIComponent(value);
    });
    return params;
  };
}

let invocationCounter = 0;

function createContext(name: string, log: (line: string) => void, triggerMetadata: Record<string, unknown> = {}): InvocationContextType {
  invocationCounter += 1;
  const invocationId = `local-${process.pid}-${invocationCounter}`;
  return new InvocationContext({
    invocationId,
    functionName: name,
    triggerMetadata,
    logHandler: (level, ...args) => {
      const text = args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" ");
      log(`[${level}] ${name}: ${text}`);
    },
  });
}

async function readBody(request: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined || body === null ? "" : typeof body === "string" ? body : JSON.stringify(body);
  response.writeHead(status, { ...(text === "" || typeof body === "string" ? {} : { "content-type": "application/json" }), ...headers });
  response.end(text);
}

async function writeHttpResult(response: ServerResponse, result: HttpResponseInit | undefined | void): Promise<void> {
  const init = result ?? { status: 204 };
  const headers: Record<string, string> = {};
  new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, key) => {
    headers[key] = value;
  });
  if (init.jsonBody !== undefined) {
    send(response, init.status ?? 200, JSON.stringify(init.jsonBody), { "content-type": "application/json", ...headers });
  } else {
    const body = init.body === undefined || init.body === null ? "" : typeof init.body === "string" ? init.body : Buffer.from(await new Response(init.body as ConstructorParameters<typeof Response>[0]).arrayBuffer()).toString();
    send(response, init.status ?? 200, body, headers);
  }
}

type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;
type EventGridDefinition = Extract<FunctionDefinition, { kind: "eventGrid" }>;

/** What the HTTP side of the host serves, and with which keys. */
interface Router {
  readonly httpRoutes: readonly { readonly definition: HttpDefinition; readonly match: (path: string) => Record<string, string> | null }[];
  /** Event Grid triggers by lower-case name. */
  readonly eventGrid: ReadonlyMap<string, EventGridDefinition>;
  readonly keys: HostKeys;
  readonly signedInUser: string | null;
  readonly log: (line: string) => void;
}

/** Routes one request as the Functions host does: the Event Grid webhook and `/api/` routes, each behind its key, else 404. */
async function routeRequest(router: Router, request: IncomingMessage, response: ServerResponse, baseUrl: string): Promise<void> {
  const url = new URL(request.url ?? "/", baseUrl);
  const method = (request.method ?? "GET").toUpperCase();
  const key = presentedKey(request.headers, url);
  if (url.pathname.toLowerCase() === "/runtime/webhooks/eventgrid") {
    // Azure checks the extension's system key before it looks for the function (and before the body).
    if (!keyMatches(key, [router.keys.eventGrid, router.keys.master])) return send(response, 401, undefined);
    const definition = router.eventGrid.get((url.searchParams.get("functionName") ?? "").toLowerCase());
    if (!definition) return send(response, 404, { error: "no such Event Grid function" });
    const body = await readBody(request);
    if (body === null) return send(response, 413, { error: "payload_too_large" });
    return serveEventGrid(router.log, definition, method, request.headers, body, response);
  }
  const found = url.pathname.startsWith("/api/") ? matchHttpRoute(router.httpRoutes, url.pathname.slice(4), method) : null;
  if (found === null) return send(response, 404, { error: "not_found" });
  const accepted = keysFor(found.definition.options.authLevel, router.keys);
  if (accepted !== null && !keyMatches(key, accepted)) return send(response, 401, undefined);
  const body = await readBody(request);
  if (body === null) return send(response, 413, { error: "payload_too_large" });
  const httpRequest = new HttpRequest({
    method,
    url: url.href,
    headers: signedIn(request.headers, isSignInExcluded(url.pathname) ? null : router.signedInUser),
    params: found.params,
    query: Object.fromEntries(url.searchParams),
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  });
  const result = await found.definition.options.handler(httpRequest, createContext(found.definition.name, router.log));
  return writeHttpResult(response, result as HttpResponseInit);
}

/** The first HTTP trigger whose route template and methods match, with its route parameters. */
function matchHttpRoute(routes: Router["httpRoutes"], path: string, method: string): { definition: HttpDefinition; params: Record<string, string> } | null {
  for (const route of routes) {
    const params = route.match(path);
    if (params === null) continue;
    const methods = (route.definition.options.methods ?? ["GET", "POST"]).map((m) => m.toUpperCase());
    if (methods.includes(method)) return { definition: route.definition, params };
  }
  return null;
}

/** One Event Grid delivery: the OPTIONS and validation handshakes, else one invocation per event (500 when one fails). */
async function serveEventGrid(
  log: (line: string) => void,
  definition: EventGridDefinition,
  method: string,
  headers: IncomingMessage["headers"],
  body: Buffer,
  response: ServerResponse,
): Promise<void> {
  if (method === "OPTIONS") {
    const origin = headers["webhook-request-origin"];
    return send(response, 200, undefined, typeof origin === "string" ? { "WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*" } : {});
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    return send(response, 400, { error: "body is not JSON" });
  }
  const events = Array.isArray(payload) ? payload : [payload];
  if (headers["aeg-event-type"] === "SubscriptionValidation") {
    const code = (events[0] as { data?: { validationCode?: unknown } } | undefined)?.data?.validationCode;
    if (typeof code !== "string") return send(response, 400, { error: "no validationCode" });
    return send(response, 200, { validationResponse: code });
  }
  try {
    for (const event of events) await definition.options.handler(event as never, createContext(definition.name, log));
    send(response, 202, undefined);
  } catch (error) {
    log(`[error] ${definition.name}: ${error instanceof Error ? error.message : String(error)}`);
    send(response, 500, { error: "function failed" });
  }
}

/** Starts the local host: imports every compiled entry point, then serves HTTP, queues and timers. */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const files = (await readdir(options.functionsDir)).filter((file) => file.endsWith(".js")).sort();
  for (const file of files) await import(pathToFileURL(join(options.functionsDir, file)).href);
  const definitions = [...registeredFunctions()];
  const queueSettings = { ...(await readQueueSettings(options.hostJsonPath)), ...options.queue };

  const httpRoutes = definitions
    .filter((definition): definition is HttpDefinition => definition.kind === "http")
    .map((definition) => ({ definition, match: compileRoute(definition.options.route ?? definition.name) }));
  const eventGrid = new Map(
    definitions
      .filter((definition): definition is EventGridDefinition => definition.kind === "eventGrid")
      .map((definition) => [definition.name.toLowerCase(), definition]),
  );

  const signedInUser = options.signedInUser === undefined ? "local-user" : options.signedInUser;
  if (signedInUser !== null) process.env.WEBSITE_AUTH_ENABLED = "True";
  const keys = options.keys ?? hostKeysOf(options.settings) ?? generateHostKeys();
  const router: Router = { httpRoutes, eventGrid, keys, signedInUser, log };

  let baseUrl = "";
  const server: Server = createServer((request, response) => {
    routeRequest(router, request, response, baseUrl).catch((error: unknown) => {
      log(`[error] host: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      if (!response.headersSent) send(response, 500, { error: "internal" });
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("local host did not bind a TCP port");
  baseUrl = `http://127.0.0.1:${address.port}`;

  const stoppers: Array<() => Promise<void>> = [];
  for (const definition of definitions) {
    if (definition.kind === "storageQueue") stoppers.push(startQueuePoller(definition, options.settings, queueSettings, log));
    if (definition.kind === "timer") stoppers.push(startTimer(definition, options.settings, log));
  }
  log(`local host listening on ${baseUrl} with ${definitions.map((d) => `${d.name} (${d.kind})`).join(", ")}`);

  return {
    url: baseUrl,
    functions: definitions,
    keys,
    async stop() {
      await Promise.all(stoppers.map((stop) => stop()));
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/**
 * The queue service of a trigger's `connection`, read as the Functions host reads it: a connection
 * string, or an identity-based connection (`<name>__queueServiceUri` or `__accountName`, with
 * `__credential=managedidentity`), authenticated with the same credential the app uses.
 */
function queueServiceOf(definition: Extract<FunctionDefinition, { kind: "storageQueue" }>, settings: Readonly<Record<string, string | undefined>>): QueueServiceClient {
  const connectionName = definition.options.connection ?? "AzureWebJobsStorage";
  const connection = storageConnectionOf(settings, connectionName);
  if (connection === null) throw new Error(`app setting ${connectionName} (or ${connectionName}__*) is not set (connection of ${definition.name})`);
  const options = storageOptions(connection, createAppCredential(connection), settings["RIPPLE_STORAGE_CA_FILE"]);
  return queueServiceFor(options.queues({}));
}

/** A received queue message, as the poller hands it to {@link runQueueMessage}. */
interface ReceivedMessage {
  readonly messageId: string;
  readonly popReceipt: string;
  readonly messageText: string;
  readonly dequeueCount: number;
  readonly insertedOn?: Date;
}

/** One queue trigger's queue, its poison queue and settings, as {@link runQueueMessage} needs them. */
interface QueueTarget {
  readonly definition: Extract<FunctionDefinition, { kind: "storageQueue" }>;
  readonly queueName: string;
  readonly poison: QueueClient;
  readonly queueSettings: QueueSettings;
  readonly log: (line: string) => void;
}

/**
 * Keeps a message invisible while its handler runs, as the Functions host does (a long build must not be
 * delivered a second time); each renewal hands out a new pop receipt, which `popReceipt()` answers.
 */
function keepInvisible(client: QueueClient, message: ReceivedMessage): { popReceipt(): string; stop(): void } {
  let popReceipt = message.popReceipt;
  const renewal = setInterval(() => {
    client.updateMessage(message.messageId, popReceipt, undefined, LEASE_SECONDS).then(
      (renewed) => {
        if (renewed.popReceipt) popReceipt = renewed.popReceipt;
      },
      () => undefined,
    );
  }, (LEASE_SECONDS * 1000) / 3);
  return { popReceipt: () => popReceipt, stop: () => clearInterval(renewal) };
}

/**
 * Runs one message's handler: deletes the message when it succeeds; when it throws, makes it visible
 * again after the visibility timeout, or moves it to the poison queue after `maxDequeueCount` deliveries.
 */
async function runQueueMessage(target: QueueTarget, client: QueueClient, message: ReceivedMessage): Promise<void> {
  const { definition, queueSettings, log } = target;
  const text = queueSettings.messageEncoding === "base64" ? Buffer.from(message.messageText, "base64").toString("utf8") : message.messageText;
  let input: unknown = text;
  try {
    input = JSON.parse(text);
  } catch {
    // Not JSON: the handler receives the string, as in Azure.
  }
  const context = createContext(definition.name, log, { id: message.messageId, dequeueCount: message.dequeueCount, insertionTime: message.insertedOn?.toISOString(), queueTrigger: text });
  const invisible = keepInvisible(client, message);
  try {
    try {
      await definition.options.handler(input, context);
    } finally {
      invisible.stop();
    }
    await client.deleteMessage(message.messageId, invisible.popReceipt());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (message.dequeueCount >= queueSettings.maxDequeueCount) {
      log(`[error] ${definition.name}: message ${message.messageId} failed ${message.dequeueCount} times, moved to ${target.queueName}-poison: ${reason}`);
      await target.poison.createIfNotExists();
      await target.poison.sendMessage(message.messageText);
      await client.deleteMessage(message.messageId, invisible.popReceipt());
    } else {
      log(`[warning] ${definition.name}: message ${message.messageId} failed (dequeue ${message.dequeueCount}), will retry: ${reason}`);
      await client.updateMessage(message.messageId, invisible.popReceipt(), undefined, Math.ceil(queueSettings.visibilityTimeoutMs / 1000));
    }
  }
}

function startQueuePoller(
  definition: Extract<FunctionDefinition, { kind: "storageQueue" }>,
  settings: Readonly<Record<string, string | undefined>>,
  queueSettings: QueueSettings,
  log: (line: string) => void,
): () => Promise<void> {
  const queueName = resolveBindingExpression(definition.options.queueName, settings);
  const service = queueServiceOf(definition, settings);
  const queue = service.getQueueClient(queueName);
  const target: QueueTarget = { definition, queueName, poison: service.getQueueClient(`${queueName}-poison`), queueSettings, log };
  let stopped = false;
  let wake: (() => void) | null = null;
  let delayMs = 0;

  const loop = (async () => {
    await queue.createIfNotExists();
    while (!stopped) {
      let received = 0;
      try {
        const batch = await queue.receiveMessages({
          numberOfMessages: Math.min(32, Math.max(1, queueSettings.batchSize)),
          visibilityTimeout: LEASE_SECONDS,
        });
        received = batch.receivedMessageItems.length;
        await Promise.all(batch.receivedMessageItems.map((message) => runQueueMessage(target, queue, message)));
      } catch (error) {
        if (!stopped) log(`[warning] ${definition.name}: queue poll failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      delayMs = received > 0 ? 0 : Math.min(queueSettings.maxPollingIntervalMs, Math.max(50, delayMs * 2));
      if (delayMs > 0 && !stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    }
  })();

  return async () => {
    stopped = true;
    (wake as (() => void) | null)?.();
    await loop;
  };
}

function startTimer(
  definition: Extract<FunctionDefinition, { kind: "timer" }>,
  settings: Readonly<Record<string, string | undefined>>,
  log: (line: string) => void,
): () => Promise<void> {
  // A schedule may name an app setting (`%RIPPLE_UPSTREAM_SCHEDULE%`), as Azure resolves it.
  const expression = CronExpressionParser.parse(resolveBindingExpression(definition.options.schedule, settings));
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let busy = false;
  const schedule = (): void => {
    if (stopped) return;
    const next = expression.next().getTime();
    timer = setTimeout(() => {
      if (busy) {
        log(`[warning] ${definition.name}: previous run still going, skipping this occurrence`);
        schedule();
        return;
      }
      busy = true;
      running = (async () => {
        const context = createContext(definition.name, log);
        try {
          await definition.options.handler({ isPastDue: Date.now() - next > 1000, schedule: { adjustForDST: true }, scheduleStatus: { last: new Date(next).toISOString(), next: "", lastUpdated: new Date().toISOString() } }, context);
        } catch (error) {
          log(`[error] ${definition.name}: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          busy = false;
        }
      })();
      schedule();
    }, Math.max(0, next - Date.now()));
  };
  if (definition.options.runOnStartup) running = Promise.resolve(definition.options.handler({ isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: "", next: "", lastUpdated: "" } }, createContext(definition.name, log)) as Promise<void>);
  schedule();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await running;
  };
}
