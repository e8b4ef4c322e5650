import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, headersOf, json, MAX_BODY_BYTES } from "../shared/http.js";
import { INLINE_BUDGET_MS, INLINE_MAX_EVENTS, processRecordedEvents } from "../shared/use-cases/process-registry-event.js";
import { receiveNotification } from "../shared/use-cases/receive-notification.js";

/**
 * One endpoint for every registry notification: Event Grid (webhook delivery, Event Grid or CloudEvents
 * schema, with both validation handshakes), ACR webhooks and CNCF Distribution notification envelopes.
 * Recorded events are queued, then the first {@link INLINE_MAX_EVENTS} processed at once, until
 * {@link INLINE_BUDGET_MS} after the request arrived (the queued copies are the retry path and carry the rest).
 */
export async function registryWebhook(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const receivedAt = Date.now();
  try {
    const length = Number(request.headers.get("content-length") ?? "0");
    if (length > MAX_BODY_BYTES) return json(413, { error: "payload_too_large", message: `body over ${MAX_BODY_BYTES} bytes` });
    const services = await getServices();
    const body = request.method === "OPTIONS" ? "" : await request.text();
    // Content-Length may be absent (chunked): measure what was read too.
    if (Buffer.byteLength(body) > MAX_BODY_BYTES) return json(413, { error: "payload_too_large", message: `body over ${MAX_BODY_BYTES} bytes` });
    const result = await receiveNotification(
      {
        store: services.store,
        queue: services.queue,
        config: services.config,
        secret: services.settings.RIPPLE_WEBHOOK_SECRET,
        eventGridTokens: services.eventGridTokens,
        now: services.now,
      },
      { method: request.method, headers: headersOf(request), body },
    );
    switch (result.kind) {
      case "unauthorized":
        // The reason names the failed check, never the token; the Authorization header is logged nowhere.
        if (result.reason === undefined) return json(401, { error: "unauthorized", message: "missing or wrong webhook secret" });
        return json(401, { error: "unauthorized", message: `Event Grid delivery needs a valid Microsoft Entra token: ${result.reason}` }, { "www-authenticate": 'Bearer error="invalid_token"' });
      case "handshake":
        return { status: result.status, headers: result.headers, ...(result.body === null ? {} : { jsonBody: result.body }) };
      case "invalid":
        return errorResponse(result.error, context);
      case "too_many":
        return json(413, { error: "too_many_events", message: result.message, limit: result.limit });
      case "rejected":
        context.warn("registry envelope rejected and acknowledged", { key: result.key, reason: result.reason });
        return json(202, { status: "rejected", reason: result.reason });
      case "recorded": {
        // The budget counts from the request's arrival: a batch that took long to record is left to the queue.
        const budgetMs = INLINE_BUDGET_MS - (Date.now() - receivedAt);
        const inline = await processRecordedEvents(services, result.acceptedKeys, { budgetMs, maxEvents: INLINE_MAX_EVENTS });
        if (inline.deferred.length > 0) context.warn("events left to the queue", { deferred: inline.deferred });
        if (inline.leftQueued > 0) context.log("events left to the queue unprocessed", { processed: inline.processed, leftQueued: inline.leftQueued, timedOut: inline.timedOut });
        if (result.rejected > 0) context.warn("registry events rejected and acknowledged", { rejections: result.rejections });
        const rejections = result.rejections.map(({ path, reason }) => ({ path, reason }));
        return json(202, { status: "recorded", accepted: result.accepted, duplicates: result.duplicates, ignored: result.ignored, rejected: result.rejected, rejections });
      }
    }
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("registryWebhook", {
  methods: ["POST", "OPTIONS"],
  authLevel: "anonymous",
  route: "registry/events",
  handler: registryWebhook,
});
