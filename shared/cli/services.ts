import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServices, type Services } from "../composition.js";
import { loadConfigFile, loadSettings, storageConnectionOf } from "../config.js";
import { AppError } from "../errors.js";

/** Where `ripple stack up` keeps its state and the settings file other commands read. */
export function defaultStackDir(): string {
  return process.env["RIPPLE_STACK_DIR"] ?? join(process.cwd(), ".stack");
}

/**
 * The app settings the CLI runs with: the environment when it names a storage account, otherwise
 * those of a running local stack (`<stack dir>/stack.json`).
 */
export function cliEnvironment(): NodeJS.ProcessEnv {
  if (storageConnectionOf(process.env) !== null) return process.env;
  const file = join(defaultStackDir(), "stack.json");
  if (!existsSync(file)) {
    throw new AppError("no_settings", "no storage connection in the environment (AzureWebJobsStorage, or AzureWebJobsStorage__accountName for a managed identity) and no running local stack (start one with `ripple stack up`)");
  }
  const stack = JSON.parse(readFileSync(file, "utf8")) as { settings: Record<string, string> };
  // An identity-mode stack: the app's ManagedIdentityCredential reads its endpoint from this process's environment.
  for (const name of ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]) if (stack.settings[name] !== undefined) process.env[name] = stack.settings[name];
  return { ...process.env, ...stack.settings };
}

export async function cliServices(): Promise<Services> {
  const env = cliEnvironment();
  const settings = loadSettings(env);
  return createServices(settings, loadConfigFile(settings.RIPPLE_CONFIG), env);
}
