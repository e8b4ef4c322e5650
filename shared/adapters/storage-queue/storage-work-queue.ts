import type { Agent } from "node:https";
import type { TokenCredential } from "@azure/identity";
import { QueueServiceClient, newPipeline, type QueueClient } from "@azure/storage-queue";
import { AppError, ConfigError, UpstreamError, ValidationError } from "../../errors.js";
import { credentialFailure, isNotFoundError } from "../azure-errors.js";
import type { QueueDepth, QueueDepths, QueueName, WorkQueue } from "../../ports/work-queue.js";

/** A connection string (Azurite, or an account key), or the queue endpoint and a token credential (identity-based). */
export type QueueStorageConnection =
  | { readonly connectionString: string }
  | { readonly endpoint: string; readonly credential: TokenCredential; readonly agent?: Agent };

export type StorageWorkQueueOptions = QueueStorageConnection & {
  /** Lowercase letters and digits put in front of every queue name. Default "ripple". */
  readonly queuePrefix?: string;
};

/** The queue service client of a connection: from the connection string, or the endpoint with the token credential. */
export function queueServiceFor(connection: QueueStorageConnection): QueueServiceClient {
  if ("connectionString" in connection) return QueueServiceClient.fromConnectionString(connection.connectionString);
  const pipeline = newPipeline(connection.credential);
  const agent = connection.agent;
  // The storage pipeline takes no TLS agent; a first policy hands each request the one given (a local CA).
  if (agent !== undefined) {
    pipeline.factories.unshift({ create: (next) => ({ sendRequest: (request) => next.sendRequest(Object.assign(request, { agent })) }) });
  }
  return new QueueServiceClient(connection.endpoint, pipeline);
}

const SERVICE = "storage-queue";
// A queue name may have 63 characters; keep room for the Functions host's "-poison" suffix.
const MAX_QUEUE_NAME = 63 - "-poison".length;
// Storage Queues take 64 KiB per message; the base64 text is what counts.
const MAX_MESSAGE_CHARS = 64 * 1024;

/**
 * The Azure queue that carries `name`: `${prefix}-${name}` (`ripple-rebuild`). Queue-triggered
 * functions and the local host bind to the same name. Throws ConfigError when the result is not a
 * valid queue name (lowercase letters, digits and single hyphens, starting and ending with a letter
 * or digit, 3–56 characters so that `<name>-poison` stays within 63).
 */
export function queueNameFor(prefix: string, name: QueueName): string {
  const queueName = prefix === "" ? name : `${prefix}-${name}`;
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/.test(queueName) || queueName.length < 3 || queueName.length > MAX_QUEUE_NAME) {
    throw new ConfigError(`queue prefix "${prefix}" gives an invalid queue name "${queueName}"`, [
      { path: "queuePrefix", message: `lowercase letters, digits and single hyphens; at most ${MAX_QUEUE_NAME} characters in all` },
    ]);
  }
  return queueName;
}

/**
 * WorkQueue on Azure Storage Queues (Azurite locally). Messages are JSON, base64-encoded, which is
 * the Functions host's default `messageEncoding`. Each queue is created on first use (idempotent; the
 * creation is remembered per process, and forgotten again if it failed).
 * `enqueue` throws ValidationError for a message that is not JSON or exceeds 64 KiB once encoded,
 * and UpstreamError (service "storage-queue"; retryable for network failures, 408, 429 and 5xx)
 * when storage fails. Not idempotent: queues are at-least-once, consumers dedupe. `depth` only reads
 * queue properties (it creates nothing).
 */
export function createStorageWorkQueue(options: StorageWorkQueueOptions): WorkQueue & QueueDepths {
  const prefix = options.queuePrefix ?? "ripple";
  const service = queueServiceFor(options);
  const ready = new Map<QueueName, Promise<QueueClient>>();

  function queueFor(name: QueueName): Promise<QueueClient> {
    let client = ready.get(name);
    if (client === undefined) {
      const queue = service.getQueueClient(queueNameFor(prefix, name));
      client = queue.createIfNotExists().then(() => queue);
      client.catch(() => ready.delete(name));
      ready.set(name, client);
    }
    return client;
  }

  function encode(message: unknown): string {
    const json = JSON.stringify(message);
    if (json === undefined) throw new ValidationError("a queue message must be JSON", [{ path: "message", message: "not serializable" }]);
    const text = Buffer.from(json, "utf8").toString("base64");
    if (text.length > MAX_MESSAGE_CHARS) {
      throw new ValidationError(`message too large for a storage queue (${text.length} characters encoded)`, [
        { path: "message", message: `at most ${MAX_MESSAGE_CHARS} characters once base64-encoded` },
      ]);
    }
    return text;
  }

  const poison = new Map<QueueName, Promise<QueueClient>>();

  return {
    async enqueue(queue, message, options = {}) {
      const text = encode(message);
      const delaySeconds = Math.max(0, Math.min(7 * 24 * 3600, Math.ceil(options.delaySeconds ?? 0)));
      try {
        const client = await queueFor(queue);
        await client.sendMessage(text, delaySeconds > 0 ? { visibilityTimeout: delaySeconds } : {});
      } catch (error) {
        throw toQueueError(error, `enqueue on ${queue}`);
      }
    },
    async deadLetter(queue, message) {
      const text = encode(message);
      try {
        let client = poison.get(queue);
        if (client === undefined) {
          const created = service.getQueueClient(`${queueNameFor(prefix, queue)}-poison`);
          client = created.createIfNotExists().then(() => created);
          client.catch(() => poison.delete(queue));
          poison.set(queue, client);
        }
        await (await client).sendMessage(text);
      } catch (error) {
        throw toQueueError(error, `dead-letter on ${queue}`);
      }
    },
    depth: (queue) => readDepth(service, queueNameFor(prefix, queue)),
  };
}

/** Approximate message count of a queue; null when it does not exist. */
async function approximateMessages(client: QueueClient): Promise<number | null> {
  try {
    return (await client.getProperties()).approximateMessagesCount ?? 0;
  } catch (error) {
    if (isNotFoundError(error, ["QueueNotFound"])) return null;
    throw error;
  }
}

async function readDepth(service: QueueServiceClient, queueName: string): Promise<QueueDepth> {
  try {
    const [messages, poisonMessages] = await Promise.all([
      approximateMessages(service.getQueueClient(queueName)),
      approximateMessages(service.getQueueClient(`${queueName}-poison`)),
    ]);
    return { queueName, messages, poisonMessages };
  } catch (error) {
    throw toQueueError(error, `reading properties of ${queueName}`);
  }
}

function toQueueError(error: unknown, operation: string): unknown {
  const credential = credentialFailure(error, SERVICE, operation);
  if (credential !== null) return credential;
  if (error instanceof AppError || !(error instanceof Error) || error.name !== "RestError") return error;
  const { statusCode, code } = error as Error & { statusCode?: unknown; code?: unknown };
  const status = typeof statusCode === "number" ? statusCode : null;
  const errorCode = typeof code === "string" ? code : null;
  const what = status === null ? `network error${errorCode ? ` ${errorCode}` : ""}` : `status ${status}${errorCode ? ` ${errorCode}` : ""}`;
  // Only these fields travel on: the SDK error holds the request, and with it the signed headers.
  return new UpstreamError(SERVICE, `${operation} failed (${what})`, { status, cause: { name: error.name, statusCode: status, code: errorCode } });
}
