/**
 * Alerts to a Microsoft Teams channel through a Workflows (Power Automate) webhook: "Send webhook alerts to
 * a channel" posts the Adaptive Card it receives and answers 202 Accepted.
 */
import type { AlertMessage, AlertSink } from "../../../ports/alert-sink.js";
import { checkSinkUrl, sendToSink } from "../sink-http.js";
import { renderTeamsMessage } from "./teams-card.js";

export interface TeamsSinkOptions {
  /** The sink's id in the configuration. */
  readonly id: string;
  /** The flow's HTTP trigger URL. A secret: its signature grants posting; never logged or put in an error. */
  readonly webhookUrl: string;
  /** A fetch to use instead of the global one (tests, a proxy). */
  readonly fetch?: typeof fetch;
}

/**
 * A Teams alert sink. A Workflows webhook cannot edit a message it posted, so every delivery — trigger,
 * update, renotify, escalate, resolve — posts a new card whose title says which it is, and no reference is
 * kept. Not idempotent: a redelivered message posts its card again.
 * @throws ConfigError when `webhookUrl` is not https (or http to loopback), naming the setting only.
 */
export function createTeamsSink(options: TeamsSinkOptions): AlertSink {
  checkSinkUrl(options.webhookUrl, `teams sink ${options.id}: webhookUrl`);
  const service = `teams sink ${options.id}`;
  return {
    id: options.id,
    kind: "teams",
    /**
     * Posts the message's card; returns null.
     * @throws UpstreamError as {@link AlertSink.deliver}: 429 and 5xx retryable (with `retryAfterMs`), a
     *   revoked flow (404) or a refused payload (400, 413) permanent.
     */
    async deliver(message: AlertMessage): Promise<null> {
      await sendToSink({
        service,
        url: options.webhookUrl,
        // Without a charset the service has been seen to count the body as UTF-16, halving the room.
        headers: { "content-type": "application/json; charset=utf-8" },
        body: renderTeamsMessage(message),
        fetch: options.fetch,
      });
      return null;
    },
  };
}
