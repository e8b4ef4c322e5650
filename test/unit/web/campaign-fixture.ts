/**
 * A small campaign for the page tests, written through any StateStore (the in-memory double in unit
 * tests, Table Storage on Azurite in the browser test): a failed rebuild, an unmerged pull request, a
 * done rebuild and a waived dependent whose name is hostile markup, plus the campaign's alert.
 */
import { parseConfig, slaRulesOf, type RippleConfig } from "../../../shared/config.js";
import { createdTransition, pushRoot, type Campaign, type Obligation } from "../../../shared/domain/campaign.js";
import { dependentKey, type Dependent } from "../../../shared/domain/dependency.js";
import { clockFor } from "../../../shared/domain/sla.js";
import type { StateStore } from "../../../shared/ports/state-store.js";

export const config: RippleConfig = parseConfig(`
version: 1
registries: [{ host: registry.test, kind: distribution }]
sla: { default: 24h, stuck: { pending: 30m, run: 2h, pullRequest: 24h } }
`);

export const START = Date.parse("2026-03-02T08:00:00.000Z");
/** `hours` after the root push, as an ISO time. */
export const at = (hours: number): string => new Date(START + hours * 3_600_000).toISOString();
/** When the tests read the page: 30 h after the root push (the SLA is 24 h). */
export const NOW = new Date(START + 30 * 3_600_000);

export const HOSTILE = "registry.test/apps/<script>alert(1)</script>:1";
export const PULL_REQUEST = "https://github.com/contoso/deploy/pull/7";

const image = (repository: string): Dependent => ({ kind: "image", registry: "registry.test", repository, tag: "1", digest: "sha256:old" });
const pin: Dependent = { kind: "file-pin", repo: "contoso/deploy", path: "k8s/app.yaml", line: 12, digest: "sha256:old" };

/** A campaign of `base` with one obligation per dependent, all pending at `openedAt`. */
export function campaignOf(id: string, dependents: readonly Dependent[], openedAt: string, base = "registry.test/base:1"): { campaign: Campaign; obligations: Obligation[] } {
  const root = pushRoot(base, "sha256:new", openedAt, null);
  const campaign: Campaign = { id, base, fromDigest: "sha256:old", toDigest: "sha256:new", openedAt, trigger: `event-${id}`, jobsQueuedAt: openedAt, root };
  const obligations = dependents.map((dependent): Obligation => {
    const key = dependentKey(dependent);
    return {
      campaignId: id,
      dependentKey: key,
      dependent,
      kind: dependent.kind === "image" ? "rebuild" : "pull-request",
      state: "pending",
      fromDigest: "sha256:old",
      reason: null,
      runId: null,
      createdAt: openedAt,
      updatedAt: openedAt,
      clock: clockFor(slaRulesOf(config), key, base, root),
      history: [createdTransition(openedAt, "campaign opened")],
    };
  });
  return { campaign, obligations };
}

function move(store: StateStore, campaignId: string, key: string, hours: number, change: Partial<Obligation>): Promise<Obligation> {
  return store.updateObligation(campaignId, key, (current) => ({ ...current, ...change, updatedAt: at(hours) }));
}

/** Writes campaign `c1` (see the file's comment), its waiver and its alert. */
export async function seedCampaign(store: StateStore, id = "c1"): Promise<void> {
  const { campaign, obligations } = campaignOf(id, [image("apps/api"), image("apps/web"), image("apps/<script>alert(1)</script>"), pin], at(0));
  await store.openCampaign(campaign, obligations);
  const api = "registry.test/apps/api:1";
  const web = "registry.test/apps/web:1";
  const deploy = "file:contoso/deploy:k8s/app.yaml:12";
  await move(store, id, api, 1, { state: "scheduled", runId: "run-1" });
  await move(store, id, api, 2, { state: "failed", reason: "exit status 1" });
  await move(store, id, web, 1, { state: "scheduled", runId: "run-3" });
  await move(store, id, web, 5, { state: "done", doneWith: "sha256:web2" });
  await move(store, id, HOSTILE, 1, { state: "scheduled", runId: "run-2" });
  await move(store, id, deploy, 2, { state: "scheduled", runId: PULL_REQUEST });
  await store.putWaiver({ id: `w-${id}`, campaignId: id, dependent: HOSTILE, until: at(54), reason: "vendor <b>fix</b> due Friday", by: "oncall@example.com", createdAt: at(29) });
  await store.saveAlert(id, () => ({
    campaignId: id,
    state: {
      status: "open",
      level: "critical",
      openedAt: at(2),
      notifiedAt: at(26),
      criticalSince: at(2),
      escalatedAt: null,
      resolvedAt: null,
      items: [
        { dependentKey: deploy, status: "overdue", step: `pull request unmerged for 1 d (${PULL_REQUEST})` },
        { dependentKey: api, status: "failed", step: "rebuild failed: exit status 1" },
      ],
      sequence: 3,
    },
    message: null,
    wanted: { pd: { sequence: 3, action: "update" }, slack: { sequence: 3, action: "update" } },
    deliveries: {
      pd: { sinkId: "pd", delivered: 3, ref: "pd-ref", deliveredAt: at(26), sendingUntil: null, attempts: 1, lastError: null, failedSequence: null },
      slack: { sinkId: "slack", delivered: 2, ref: null, deliveredAt: at(24), sendingUntil: null, attempts: 4, lastError: "slack: 404 channel_not_found", failedSequence: 3 },
    },
    updatedAt: at(26),
  }));
}
