import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, signInRequired, viewerOf } from "../shared/http.js";
import { parseWith } from "../shared/validation.js";
import { campaignView } from "../shared/use-cases/campaign-view.js";
import { renderCampaignPage, renderMissingCampaign } from "../shared/web/campaign-page.js";
import { PAGE_HEADERS } from "../shared/web/layout.js";
import { wantsHtml } from "../shared/web/negotiate.js";
import { pageLinksOf } from "../shared/web/page-links.js";

const CampaignRoute = z.object({ id: z.string().max(512).optional() });

/**
 * Read API: `GET /api/campaigns` lists campaigns; `GET /api/campaigns/{id}` one with its obligations as
 * JSON, or its page (SLA clocks, history, alert) when the caller asks for `text/html`.
 */
export async function campaignsApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (viewerOf(request) === null) return signInRequired();
  try {
    const services = await getServices();
    const { id } = parseWith(CampaignRoute, { id: request.params["id"] }, "campaign route");
    if (id === undefined || id === "") return json(200, { campaigns: await services.store.listCampaigns() });
    if (wantsHtml(request.headers.get("accept"))) {
      const links = pageLinksOf(services.config, 1);
      const view = await campaignView(services, id);
      return view === null
        ? { status: 404, headers: PAGE_HEADERS, body: renderMissingCampaign(id, links) }
        : { status: 200, headers: PAGE_HEADERS, body: renderCampaignPage(view, links) };
    }
    const [found, waivers] = await Promise.all([services.store.getCampaign(id), services.store.listWaivers()]);
    if (found === null) return json(404, { error: "not_found", message: `no campaign ${id}` }, { vary: "Accept" });
    // The campaign as stored, with the waivers that name it or every campaign (expired ones included: a record).
    return json(200, { ...found, waivers: waivers.filter((waiver) => waiver.campaignId === null || waiver.campaignId === id) }, { vary: "Accept" });
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("campaignsApi", { methods: ["GET"], authLevel: "anonymous", route: "campaigns/{id?}", handler: campaignsApi });
