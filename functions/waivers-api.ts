import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { ValidationError } from "../shared/errors.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, viewerOf } from "../shared/http.js";
import { waive } from "../shared/use-cases/waive.js";

/** Largest waiver request body (a reason of 1,000 characters fits many times over). */
const MAX_WAIVER_BYTES = 16 * 1024;

/**
 * Waivers, behind the function key (`x-functions-key` header or `code` query: the Functions host answers
 * 401 without it, before this runs). In Azure `/api/waivers` is excluded from App Service Authentication's
 * sign-in requirement so that scripts and on-call tooling reach it with the key alone.
 * `POST /api/waivers` records one (JSON: campaignId and/or dependent glob, until as a time or a duration,
 * reason, by) and answers 201 with it; `GET /api/waivers` lists them. Who asked is the signed-in user when
 * App Service Authentication vouches for one (whatever the body says); otherwise the body's `by`, recorded
 * as given with `via: "function-key"`.
 * A bad request is a 400 naming the field; an unknown campaign a 404; nothing is written for either.
 */
export async function waiversApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
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
    const viewer = viewerOf(request);
    // A user App Service Authentication vouches for outranks the body; a key alone vouches for no one.
    const waiver = viewer !== null
      ? await waive(services, typeof body === "object" && body !== null && !Array.isArray(body) ? { ...body, by: viewer } : body)
      : await waive(services, body, "function-key");
    context.log("waiver recorded", { id: waiver.id, campaignId: waiver.campaignId, dependent: waiver.dependent, until: waiver.until, by: waiver.by, via: waiver.via ?? "sign-in" });
    return json(201, waiver);
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "not_found") return json(404, { error: "not_found", message: error.message });
    return errorResponse(error, context);
  }
}

register.http("waiversApi", { methods: ["GET", "POST"], authLevel: "function", route: "waivers", handler: waiversApi });
