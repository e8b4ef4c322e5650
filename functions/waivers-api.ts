import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { ValidationError } from "../shared/errors.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, signInRequired, viewerOf } from "../shared/http.js";
import { waive } from "../shared/use-cases/waive.js";

/** Largest waiver request body (a reason of 1,000 characters fits many times over). */
const MAX_WAIVER_BYTES = 16 * 1024;

/**
 * Waivers, for users signed in through App Service Authentication: `POST /api/waivers` records one (JSON:
 * campaignId and/or dependent glob, until as a time or a duration, reason; `by` is the signed-in user) and
 * answers 201 with it; `GET /api/waivers` lists them.
 * A bad request is a 400 naming the field; an unknown campaign a 404; nothing is written for either.
 */
export async function waiversApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const viewer = viewerOf(request);
  if (viewer === null) return signInRequired();
  try {
    const services = await getServices();
    if (request.method === "GET") return json(200, { waivers: await services.store.listWaivers() });
    const text = await request.text();
    if (Buffer.byteLength(text) > MAX_WAIVER_BYTES) return json(413, { error: "payload_too_large", message: `body over ${MAX_WAIVER_BYTES} bytes` });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ValidationError("waiver: the body is not JSON", [{ path: "(body)", message: "not JSON" }]);
    }
    // Who asked is the signed-in user, whatever the body says.
    const waiver = await waive(services, typeof body === "object" && body !== null && !Array.isArray(body) ? { ...body, by: viewer } : body);
    context.log("waiver recorded", { id: waiver.id, campaignId: waiver.campaignId, dependent: waiver.dependent, until: waiver.until, by: waiver.by });
    return json(201, waiver);
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "not_found") return json(404, { error: "not_found", message: error.message });
    return errorResponse(error, context);
  }
}

register.http("waiversApi", { methods: ["GET", "POST"], authLevel: "anonymous", route: "waivers", handler: waiversApi });
