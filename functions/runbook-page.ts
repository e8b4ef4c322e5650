import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, signInRequired, viewerOf } from "../shared/http.js";
import { PAGE_HEADERS } from "../shared/web/layout.js";
import { pageLinksOf } from "../shared/web/page-links.js";
import { readRunbook } from "../shared/web/runbook-file.js";
import { renderRunbookPage } from "../shared/web/runbook-page.js";

/** `GET /api/runbook`: docs/runbook.md as a page, one section (anchor) per failure kind alerts link to. */
export async function runbookPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (viewerOf(request) === null) return signInRequired();
  try {
    const [services, markdown] = await Promise.all([getServices(), readRunbook()]);
    // The page's own links stay on this app, whatever `alerts.runbookUrl` says.
    return { status: 200, headers: PAGE_HEADERS, body: renderRunbookPage(markdown, { ...pageLinksOf(services.config, 0), runbook: "runbook" }) };
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("runbookPage", { methods: ["GET"], authLevel: "anonymous", route: "runbook", handler: runbookPage });
