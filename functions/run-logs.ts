import { readFile } from "node:fs/promises";
import { resolve, sep } from "node:path";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { getServices } from "../shared/composition.js";
import { register } from "../shared/function-definitions.js";
import { errorResponse, json, signInRequired, viewerOf } from "../shared/http.js";
import { runLogs } from "../shared/use-cases/run-logs.js";
import { parseWith } from "../shared/validation.js";

const LogsQuery = z.strictObject({ campaign: z.string().min(1).max(512), dependent: z.string().min(1).max(1024) });

/**
 * `GET /api/logs?campaign=ID&dependent=KEY` (signed in): the build log of that obligation's rebuild — a
 * redirect to a link signed now (ACR Tasks' short-lived log SAS, never stored or logged), or on the local
 * stack the log file itself (only from under the stack's folder). 404 when there is no log.
 */
export async function runLogsApi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (viewerOf(request) === null) return signInRequired();
  try {
    const query = parseWith(LogsQuery, { campaign: request.query.get("campaign") ?? undefined, dependent: request.query.get("dependent") ?? undefined }, "logs query");
    const services = await getServices();
    const logs = await runLogs(services, query.campaign, query.dependent);
    if (logs === null) return json(404, { error: "not_found", message: "no build log for that obligation" });
    if (logs.kind === "link") return { status: 302, headers: { location: logs.url, "cache-control": "no-store" } };
    const root = services.settings.RIPPLE_LOCAL_STACK_DIR;
    const path = resolve(logs.path);
    if (root === undefined || !path.startsWith(resolve(root) + sep)) return json(404, { error: "not_found", message: "the log is not readable here" });
    const text = await readFile(path, "utf8").catch(() => null);
    if (text === null) return json(404, { error: "not_found", message: "the log file is gone" });
    return { status: 200, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" }, body: text };
  } catch (error) {
    return errorResponse(error, context);
  }
}

register.http("runLogsApi", { methods: ["GET"], authLevel: "anonymous", route: "logs", handler: runLogsApi });
