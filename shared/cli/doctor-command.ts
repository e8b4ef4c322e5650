import type { Services } from "../composition.js";
import { runDoctor } from "../use-cases/doctor.js";
import { printJson } from "./output.js";

/** `ripple doctor`: read-only reachability checks with the app's identity and settings; exit 1 when one fails. */
export async function doctorCommand(services: Services, json: boolean): Promise<number> {
  const checks = await runDoctor(services);
  if (json) printJson(checks);
  else for (const check of checks) process.stdout.write(`${check.ok ? "ok  " : "FAIL"} ${check.check}: ${check.detail}${check.fix ? `\n     fix: ${check.fix}` : ""}\n`);
  return checks.every((check) => check.ok) ? 0 : 1;
}
