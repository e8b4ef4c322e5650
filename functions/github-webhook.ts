import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { verifyGitHubWebhook } from "../shared/adapters/github/verify-webhook.js";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, MAX_BODY_BYTES } from "../shared/http.js";
import { handleGitHubEvent } from "../shared/use-cases/handle-github-event.js";

/**
 * GitHub webhook: `push` rescans the repository, `pull_request` closed completes (merged) or fails
 * (closed) the obligations of Ripple's pull request. 401 unless `X-Hub-Signature-256` verifies.
 */
export async function githubWebhook(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    if (Number(request.headers.get("content-length") ?? "0") > MAX_BODY_BYTES) return json(413, { error: "payload_too_large", message: `body over ${MAX_BODY_BYTES} bytes` });
    const services = await getServices();
    const secret = services.settings.RIPPLE_GITHUB_WEBHOOK_SECRET;
    if (secret === undefined) return json(404, { error: "not_configured", message: "no GitHub webhook secret is configured" });
    const payload = await request.text();
    if (Buffer.byteLength(payload) > MAX_BODY_BYTES) return json(413, { error: "payload_too_large", message: `body over ${MAX_BODY_BYTES} bytes` });
    if (!(await verifyGitHubWebhook({ secret, payload, signature: request.headers.get("x-hub-signature-256") }))) {
      return json(401, { error: "unauthorized", message: "missing or wrong X-Hub-Signature-256" });
    }
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return json(400, { error: "validation_failed", message: "body is not JSON", issues: [{ path: "(root)", message: "not JSON" }] });
    }
    const outcome = await handleGitHubEvent(services, request.headers.get("x-github-event") ?? "", body);
    context.log(`github event ${outcome.kind}`, outcome);
    return json(200, outcome);
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("githubWebhook", { methods: ["POST"], authLevel: "anonymous", route: "github/events", handler: githubWebhook });
