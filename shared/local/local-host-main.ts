/**
 * Process entry of the local Functions host, started by the local stack with the app settings in its
 * environment (as the Functions host would have them), its access keys among them ({@link HOST_KEY_SETTINGS}).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOST_KEY_SETTINGS, hostKeysOf, startLocalHost } from "./local-host.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
// Keys nobody was told would lock every keyed endpoint: the stack always sets them.
const keys = hostKeysOf(process.env);
if (keys === null) throw new Error(`app settings ${Object.values(HOST_KEY_SETTINGS).join(", ")} are not set: the local host needs its access keys`);
const host = await startLocalHost({
  keys,
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
