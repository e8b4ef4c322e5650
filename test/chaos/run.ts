/**
 * `npm run chaos`: the fault suite (issue #10). Runs every scenario with one local Functions host and with
 * two on the same storage — the stack scenarios ({@link STACK_FAULTS}) on the local stack, and
 * `arm-and-github-faults` (ACR Tasks and GitHub through their contract servers, with one and two workers) —
 * and prints one JSON object: per scenario `lost_obligations`,
 * `duplicate_runs`, `duplicate_pull_requests`, `stuck_after_recovery` (targets 0) and `recovery_s`
 * (target ≤ 60), plus `targets_met`. Exits 1 when a target is missed.
 * `node dist/test/chaos/run.js --hosts 2 host-killed-mid-build` runs a selection; `--keep` keeps each
 * stack's folder (the hosts', registry's and Azurite's logs) and prints where.
 */
import { runContractFaultScenario } from "./contract-faults.js";
import { meetsTargets, type ScenarioResult } from "./result.js";
import { startChaosStack } from "./stack-fixture.js";
import { runStackScenario, STACK_FAULTS } from "./stack-faults.js";

function parseArguments(argv: readonly string[]): { hosts: number[]; scenarios: string[]; keep: boolean } {
  let hosts = [1, 2];
  let keep = false;
  const scenarios: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === "--hosts") hosts = (argv[(index += 1)] ?? "").split(",").map(Number);
    else if (argument === "--keep") keep = true;
    else scenarios.push(argument);
  }
  const unknown = scenarios.filter((name) => !(name in STACK_FAULTS) && name !== CONTRACT_SCENARIO);
  if (unknown.length > 0 || hosts.some((count) => count !== 1 && count !== 2)) {
    throw new Error(`usage: run.js [--hosts 1,2] [--keep] [${[...Object.keys(STACK_FAULTS), CONTRACT_SCENARIO].join(" | ")} ...]${unknown.length > 0 ? ` (unknown: ${unknown.join(", ")})` : ""}`);
  }
  return { hosts, keep, scenarios: scenarios.length > 0 ? scenarios : [...Object.keys(STACK_FAULTS), CONTRACT_SCENARIO] };
}

/** The scenario on the ARM and GitHub contract servers rather than the local stack. */
const CONTRACT_SCENARIO = "arm-and-github-faults";

async function main(): Promise<number> {
  const { hosts, scenarios, keep } = parseArguments(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const results: ScenarioResult[] = [];
  const onStack = scenarios.filter((name) => name !== CONTRACT_SCENARIO);
  for (const count of hosts) {
    if (scenarios.includes(CONTRACT_SCENARIO)) results.push(await runContractFaultScenario({ workers: count as 1 | 2, log }));
    if (onStack.length === 0) continue;
    const chaos = await startChaosStack(count, log);
    try {
      for (const name of onStack) results.push(await runStackScenario(chaos, name, count, log));
    } finally {
      await chaos.stop({ keep });
      if (keep) log(`chaos: kept ${chaos.stack.dir}`);
    }
  }
  const targetsMet = results.every(meetsTargets);
  process.stdout.write(`${JSON.stringify({ scenarios: results, targets_met: targetsMet }, null, 2)}\n`);
  return targetsMet ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
