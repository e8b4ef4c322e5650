import type { AlertItem, AlertMessage } from "../../../shared/ports/alert-sink.js";

/** A late campaign's alert as the SLA monitor builds it, with `overrides`. */
export function sampleAlert(overrides: Partial<AlertMessage> = {}): AlertMessage {
  const campaignId = "docker.io-library-alpine-3.20-5d1c3f0a--9b2c4e6f8a0b1c2d";
  return {
    dedupeKey: `ripple-${campaignId}`,
    action: "trigger",
    severity: "critical",
    summary: "docker.io/library/alpine:3.20 patched: 1 of 14 dependents late, worst by 5 h 12 min",
    campaignId,
    base: "docker.io/library/alpine:3.20",
    fromDigest: `sha256:${"a".repeat(64)}`,
    toDigest: `sha256:${"9b2c4e6f8a0b1c2d".repeat(4)}`,
    total: 14,
    late: 1,
    items: [
      {
        dependent: "rippleacr.azurecr.io/team/api:1.0",
        kind: "rebuild",
        status: "failed",
        step: "rebuild failed: step 3 exited 1",
        dueAt: "2026-11-26T08:00:00.000Z",
        lateByMs: 18_720_000,
        links: [{ label: "Run logs", url: "https://ripple.example.com/runs/cb1" }],
      },
    ],
    campaignUrl: `https://ripple.example.com/campaigns/${campaignId}`,
    runbookUrl: "https://ripple.example.com/runbook#rebuild-failed",
    at: "2026-11-26T13:12:00.000Z",
    sequence: 1,
    ...overrides,
  };
}

/** `n` distinct late items (alternating rebuilds and pull requests), each with one link. */
export function sampleItems(n: number): AlertItem[] {
  return Array.from({ length: n }, (_, index) => {
    const rebuild = index % 2 === 0;
    return {
      dependent: rebuild ? `rippleacr.azurecr.io/team/service-${index}:1.0` : `contoso/app-${index}:Dockerfile:1`,
      kind: rebuild ? "rebuild" : "pull-request",
      status: rebuild ? "failed" : "overdue",
      step: rebuild ? `rebuild failed: step ${index % 7} exited 1` : `pull request #${index} unmerged for 30 h`,
      dueAt: "2026-11-26T08:00:00.000Z",
      lateByMs: 3_600_000 + index * 60_000,
      links: [{ label: rebuild ? "Run logs" : "Pull request", url: `https://ripple.example.com/obligations/${index}` }],
    };
  });
}
