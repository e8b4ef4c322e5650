/**
 * Process entry of the local Functions host, started by the local stack with the app settings in its
 * environment (as the Functions host would have them).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalHost } from "./local-host.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const host = await startLocalHost({
  functionsDir: process.env["RIPPLE_FUNCTIONS_DIR"] ?? join(root, "dist", "functions"),
  hostJsonPath: process.env["RIPPLE_HOST_JSON"] ?? join(root, "host.json"),
  settings: process.env,
  port: Number(process.env["RIPPLE_HOST_PORT"] ?? "0"),
});
process.stdout.write(`ready ${host.url}\n`);
const shutdown = (): void => {
  host.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
