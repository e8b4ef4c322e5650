import { createdTransition, type Obligation } from "../../../shared/domain/campaign.js";

/** A pending rebuild of image r/a:1 in campaign c, created 2026-03-01T00:00Z when the campaign opened, without a clock. */
export const PENDING_OBLIGATION: Obligation = {
  campaignId: "c",
  dependentKey: "r/a:1",
  dependent: { kind: "image", registry: "r", repository: "a", tag: "1", digest: "sha256:0" },
  kind: "rebuild",
  state: "pending",
  fromDigest: "sha256:0",
  reason: null,
  runId: null,
  createdAt: "2026-03-01T00:00:00.000Z",
  updatedAt: "2026-03-01T00:00:00.000Z",
  history: [createdTransition("2026-03-01T00:00:00.000Z", "campaign opened")],
};
