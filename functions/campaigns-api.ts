import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json } from "../shared/http.js";

/** Read API: `GET /api/campaigns` lists campaigns; `GET /api/campaigns/{id}` one with its obligations. */
export async function campaignsApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const { store } = await getServices();
    const id = request.params["id"];
    if (id === undefined || id === "") return json(200, { campaigns: await store.listCampaigns() });
    const found = await store.getCampaign(id);
    return found === null ? json(404, { error: "not_found", message: `no campaign ${id}` }) : json(200, found);
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("campaignsApi", { methods: ["GET"], authLevel: "function", route: "campaigns/{id?}", handler: campaignsApi });
