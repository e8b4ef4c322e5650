import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, signInRequired, viewerOf } from "../shared/http.js";
import { statusView } from "../shared/use-cases/status-view.js";
import { PAGE_HEADERS } from "../shared/web/layout.js";
import { wantsHtml } from "../shared/web/negotiate.js";
import { pageLinksOf } from "../shared/web/page-links.js";
import { renderStatusPage } from "../shared/web/status-page.js";

/** `GET /api/status`: open campaigns by SLA risk, counts, time to patch — a page, or JSON for API callers. */
export async function statusPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (viewerOf(request) === null) return signInRequired();
  try {
    const services = await getServices();
    const view = await statusView(services);
    if (!wantsHtml(request.headers.get("accept"))) return json(200, view, { vary: "Accept" });
    return { status: 200, headers: PAGE_HEADERS, body: renderStatusPage(view, pageLinksOf(services.config, 0)) };
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("statusPage", { methods: ["GET"], authLevel: "anonymous", route: "status", handler: statusPage });
