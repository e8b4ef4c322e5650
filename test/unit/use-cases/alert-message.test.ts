import { describe, expect, it } from "vitest";
import type { Campaign } from "../../../shared/domain/campaign.js";
import { alertSummary, dependentLabel } from "../../../shared/use-cases/alert-message.js";
import type { ObligationStanding } from "../../../shared/use-cases/sla-standing.js";

const campaign = { id: "c", base: "docker.io/library/alpine:3.20", fromDigest: `sha256:${"a".repeat(64)}`, toDigest: `sha256:${"b".repeat(64)}` } as Campaign;
const H = 3_600_000;
const standing = (alert: ObligationStanding["alert"], lateByMs: number) => ({ alert, lateByMs }) as ObligationStanding;

describe("the first line of an alert", () => {
  it.each([
    ["failed and overdue", [standing("failed", -H), standing("overdue", 5 * H + 12 * 60_000), standing(null, -H)], "2 of 3 dependents late (1 failed, 1 overdue by up to 5 h 12 min)"],
    ["a failure before its due time", [standing("failed", -15_000)], "1 of 1 dependent late (1 failed, the first due in 15 s)"],
    ["only at risk", [standing("at-risk", -2 * H), standing("stuck", -H), standing(null, -3 * H)], "0 of 3 dependents late; 2 need attention, the first due in 1 h"],
    ["one at risk", [standing("at-risk", -2 * H)], "0 of 1 dependent late; 1 needs attention, the first due in 2 h"],
    ["all done", [standing(null, -H)], "all 1 dependent done or waived"],
  ])("%s", (_, standings, text) => {
    expect(alertSummary(campaign, standings)).toEqual(`docker.io/library/alpine:3.20 patched (aaaaaaaaaaaa → bbbbbbbbbbbb): ${text}`);
  });

  it.each([
    ["contoso.azurecr.io/apps/web:1", "contoso.azurecr.io/apps/web:1"],
    ["file:contoso/deploy:k8s/app.yaml:12", "contoso/deploy: k8s/app.yaml line 12"],
  ])("names %s as %s", (key, label) => {
    expect(dependentLabel(key)).toEqual(label);
  });
});
