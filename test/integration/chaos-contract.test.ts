/**
 * The `arm-and-github-faults` chaos scenario with two workers on one storage: ARM's 429s, 5xxs and lost
 * answers and GitHub's secondary rate limits, every job delivered twice, must leave no obligation lost or
 * stuck, start no second run of an image and open no second pull request, and the campaign must recover.
 * Speed targets belong to `npm run chaos`.
 */
import { describe, expect, it } from "vitest";
import { runContractFaultScenario } from "../chaos/contract-faults.js";

describe("ARM and GitHub faults with two workers on the contract servers", () => {
  it("loses, duplicates and strands nothing, and recovers", async () => {
    const lines: string[] = [];
    const result = await runContractFaultScenario({ workers: 2, log: (line) => lines.push(line) });
    const counts = { lost: result.lost_obligations, duplicateRuns: result.duplicate_runs, duplicatePulls: result.duplicate_pull_requests, stuck: result.stuck_after_recovery, recovered: result.recovery_s !== null };
    expect(counts, JSON.stringify({ result, log: lines.slice(-40) }, null, 2)).toEqual({ lost: 0, duplicateRuns: 0, duplicatePulls: 0, stuck: 0, recovered: true });
  }, 240_000);
});
