import { describe, expect, it } from "vitest";
import type { ImageBuilder } from "../../../shared/ports/image-builder.js";
import { runKey, type RunRecord } from "../../../shared/ports/state-store.js";
import { runLogs } from "../../../shared/use-cases/run-logs.js";
import { createMemoryStateStore } from "../../doubles/memory-state-store.js";

const TO = `sha256:${"2".repeat(64)}`;
const at = "2026-03-02T08:00:00.000Z";

async function fixture(logsUrl: string | null) {
  const store = createMemoryStateStore();
  await store.openCampaign({ id: "c1", base: "r.io/base:1", fromDigest: null, toDigest: TO, openedAt: at, trigger: "t", jobsQueuedAt: at }, [
    { campaignId: "c1", dependentKey: "r.io/app:1", dependent: { kind: "image", registry: "r.io", repository: "app", tag: "1", digest: "sha256:0" }, kind: "rebuild", state: "failed", fromDigest: "sha256:0", reason: "exit 1", runId: "cb7", createdAt: at, updatedAt: at },
    { campaignId: "c1", dependentKey: "file:o/r:Dockerfile:1", dependent: { kind: "file-pin", repo: "o/r", path: "Dockerfile", line: 1, digest: "sha256:0" }, kind: "pull-request", state: "pending", fromDigest: "sha256:0", reason: null, runId: null, createdAt: at, updatedAt: at },
  ]);
  const run: RunRecord = { key: runKey("r.io/app:1", TO), image: "r.io/app:1", registry: "r.io", base: "r.io/base:1", baseDigest: TO, campaignId: "c1", builder: "acr-tasks", status: "failed", runId: "cb7", logsUrl, reason: "exit 1", attempts: 1, claimedAt: at, startedAt: at, finishedAt: at, updatedAt: at };
  await store.claimRun(run);
  return store;
}

const builder = (link: string | null) => ({ builder: { signLogs: async () => link } as unknown as ImageBuilder });

describe("runLogs", () => {
  it.each([
    ["a link signed now (ACR Tasks)", "acr-run:rippleacr/cb7", "https://rippleacr.blob.core.windows.net/logs/cb7.log?sig=now", { kind: "link", url: "https://rippleacr.blob.core.windows.net/logs/cb7.log?sig=now" }],
    ["a local log file (buildah)", "/stack/builds/runs/cb7/build.log", "/stack/builds/runs/cb7/build.log", { kind: "file", path: "/stack/builds/runs/cb7/build.log" }],
    ["nothing when the builder cannot sign", "acr-run:rippleacr/cb7", null, null],
  ])("gives %s", async (_, logsUrl, link, expected) => {
    const store = await fixture(logsUrl);
    expect(await runLogs({ store, builderFor: () => builder(link) }, "c1", "r.io/app:1")).toEqual(expected);
  });

  it("gives nothing for a pull-request obligation, an unknown campaign, or a run without a log", async () => {
    const store = await fixture(null);
    const deps = { store, builderFor: () => builder("https://x") };
    expect([await runLogs(deps, "c1", "file:o/r:Dockerfile:1"), await runLogs(deps, "nope", "r.io/app:1"), await runLogs(deps, "c1", "r.io/app:1")]).toEqual([null, null, null]);
  });
});
