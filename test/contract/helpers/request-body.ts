import type { IncomingMessage } from "node:http";
import { parseJsonBody, readBody as readLimitedBody } from "../../../shared/local/alert-receivers/receiver-http.js";

export { parseJsonBody };

/** The whole body of a request a contract server received (no size limit: blob uploads may be large). */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return readLimitedBody(req, Number.POSITIVE_INFINITY);
}
