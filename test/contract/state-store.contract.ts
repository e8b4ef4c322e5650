import { beforeEach, describe, expect, it } from "vitest";
import { campaignIdPrefix, type Campaign, type Obligation } from "../../shared/domain/campaign.js";
import { dependentKey, type DependencyEdge, type Dependent } from "../../shared/domain/dependency.js";
import type { ImageIndexFacts, ImageManifestFacts } from "../../shared/domain/image-facts.js";
import type { RegistryEvent } from "../../shared/domain/registry-event.js";
import {
  runKey,
  type EarlierPullRequest,
  type EventRecord,
  type ProposingLease,
  type PullRequestRecord,
  type PatchOriginRecord,
  type RunRecord,
  type AlertRecord,
  type OpenCampaignEntry,
  type StateStore,
  type TagState,
  type WaiverRecord,
  type UpstreamListingRecord,
  type UpstreamSighting,
  type UpstreamTagRecord,
} from "../../shared/ports/state-store.js";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const time = (second: number) => new Date(Date.UTC(2024, 4, 1, 12, 0, second)).toISOString();

function event(key: string, receivedAt: string, status: EventRecord["status"] = "accepted"): EventRecord {
  const registryEvent: RegistryEvent = {
    id: `id-${key}`,
    source: "distribution",
    action: "push",
    registry: "registry.local:5000",
    repository: "team/app",
    tag: "1.0",
    digest: digest(1),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    occurredAt: receivedAt,
  };
  return { key, event: registryEvent, status, reason: null, receivedAt };
}

function image(repository: string, tag = "latest"): Dependent {
  return { kind: "image", registry: "registry.local:5000", repository, tag, digest: digest(100) };
}

function edge(dependent: Dependent, base: string, overrides: Partial<DependencyEdge> = {}): DependencyEdge {
  return {
    dependent,
    base,
    baseDigest: digest(1),
    evidence: "annotation",
    detail: `${base}@${digest(1)}`,
    platform: null,
    recordedAt: time(0),
    ...overrides,
  };
}

function campaign(id: string, openedAt = time(0)): Campaign {
  return { id, base: "registry.local:5000/base:3", fromDigest: digest(1), toDigest: digest(2), openedAt, trigger: `trigger-${id}`, jobsQueuedAt: null };
}

function obligation(campaignId: string, dependent: Dependent): Obligation {
  return {
    campaignId,
    dependentKey: dependentKey(dependent),
    dependent,
    kind: dependent.kind === "image" ? "rebuild" : "pull-request",
    state: "pending",
    fromDigest: digest(1),
    reason: null,
    runId: null,
    createdAt: time(0),
    updatedAt: time(0),
  };
}

const byKey = (a: Obligation, b: Obligation) => (a.dependentKey < b.dependentKey ? -1 : a.dependentKey > b.dependentKey ? 1 : 0);

/** Keys that must survive Table Storage's key rules (no / \ # ? or control characters) unharmed. */
export const AWKWARD_KEYS = [
  "registry.local:5000/team/app|sha256:00|push|1.0",
  "a/b\\c#d?e@f:g",
  "100%~41~~A",
  "percent%2Fencoded",
  "tab\tnew\nline",
  "ünïcödé/日本/🐳",
  "UPPER",
  "upper",
] as const;

/**
 * The StateStore contract. `createStore` is called before every test and must return an empty,
 * independent store.
 */
export function describeStateStoreContract(name: string, createStore: () => Promise<StateStore>): void {
  describe(`StateStore contract: ${name}`, () => {
    let store: StateStore;
    beforeEach(async () => {
      store = await createStore();
    });

    describe("events", () => {
      it("records a key once and keeps the first record", async () => {
        const first = event("k1", time(1));
        const results = [
          await store.recordEvent(first),
          await store.recordEvent({ ...event("k1", time(2)), status: "rejected", reason: "replay" }),
        ];
        expect({ results, stored: await store.getEvent("k1"), missing: await store.getEvent("k2") }).toEqual({
          results: [true, false],
          stored: first,
          missing: null,
        });
      });

      it("sets the status of a recorded event", async () => {
        await store.recordEvent(event("k1", time(1)));
        await store.setEventStatus("k1", "failed", "manifest unreadable");
        await store.setEventStatus("k1", "processed", null);
        await store.setEventStatus("k1", "ignored", "not a tracked repository");
        expect(await store.getEvent("k1")).toEqual({ ...event("k1", time(1)), status: "ignored", reason: "not a tracked repository" });
      });

      it("refuses to set the status of an unknown event", async () => {
        await expect(store.setEventStatus("nope", "processed", null)).rejects.toMatchObject({ code: "not_found", retryable: false });
      });

      it("lists newest first, up to the limit", async () => {
        for (const [key, second] of [["a", 3], ["b", 1], ["c", 5], ["d", 2], ["e", 4]] as const) {
          await store.recordEvent(event(key, time(second)));
        }
        expect({
          three: await store.listEvents(3),
          all: (await store.listEvents(100)).map((record) => record.key),
          none: await store.listEvents(0),
        }).toEqual({
          three: [event("c", time(5)), event("e", time(4)), event("a", time(3))],
          all: ["c", "e", "a", "d", "b"],
          none: [],
        });
      });

      it("lists the status set after recording", async () => {
        await store.recordEvent(event("a", time(1)));
        await store.setEventStatus("a", "processed", null);
        expect(await store.listEvents(10)).toEqual([{ ...event("a", time(1)), status: "processed" }]);
      });

      it("rejects a record whose receivedAt is not an ISO date-time", async () => {
        await expect(store.recordEvent(event("a", "yesterday"))).rejects.toMatchObject({ code: "validation_failed" });
      });
    });

    describe("tags", () => {
      const reg = "registry.local:5000";

      it("applies only strictly newer moves, whatever the delivery order", async () => {
        const moves = [
          await store.moveTag(reg, "base", "3", digest(2), time(20)),
          await store.moveTag(reg, "base", "3", digest(1), time(10)), // older, delivered late
          await store.moveTag(reg, "base", "3", digest(9), time(20)), // same time: the recorded one stays
          await store.moveTag(reg, "base", "3", digest(3), time(30)),
          await store.moveTag(reg, "base", "3", digest(3), time(40)), // same digest, newer: no new history
        ];
        expect({ moves, state: await store.getTag(reg, "base", "3") }).toEqual({
          moves: [
            { applied: true, previous: null, current: digest(2) },
            { applied: false, previous: digest(2), current: digest(2) },
            { applied: false, previous: digest(2), current: digest(2) },
            { applied: true, previous: digest(2), current: digest(3) },
            { applied: true, previous: digest(3), current: digest(3) },
          ],
          state: {
            registry: reg,
            repository: "base",
            tag: "3",
            digest: digest(3),
            at: time(40),
            history: [
              { digest: digest(2), at: time(20) },
              { digest: digest(3), at: time(30) },
            ],
          } satisfies TagState,
        });
      });

      it("compares times at full precision, beyond milliseconds and across zones", async () => {
        const moves = [
          await store.moveTag(reg, "base", "3", digest(1), "2024-05-01T12:00:00.123456789Z"),
          await store.moveTag(reg, "base", "3", digest(2), "2024-05-01T12:00:00.1234567Z"),
          await store.moveTag(reg, "base", "3", digest(3), "2024-05-01T14:00:00.1234568+02:00"),
        ];
        expect(moves).toEqual([
          { applied: true, previous: null, current: digest(1) },
          { applied: false, previous: digest(1), current: digest(1) },
          { applied: true, previous: digest(1), current: digest(3) },
        ]);
      });

      it("records a deletion as a tombstone that a late older push cannot undo", async () => {
        const moves = [
          await store.moveTag(reg, "base", "3", digest(1), time(10)),
          await store.moveTag(reg, "base", "3", null, time(20)),
          await store.moveTag(reg, "base", "3", digest(2), time(15)),
        ];
        const deleted = await store.getTag(reg, "base", "3");
        const repushed = await store.moveTag(reg, "base", "3", digest(1), time(30));
        expect({ moves, deleted, repushed, final: await store.getTag(reg, "base", "3") }).toEqual({
          moves: [
            { applied: true, previous: null, current: digest(1) },
            { applied: true, previous: digest(1), current: null },
            { applied: false, previous: null, current: null },
          ],
          deleted: { registry: reg, repository: "base", tag: "3", digest: null, at: time(20), history: [{ digest: digest(1), at: time(10) }] },
          repushed: { applied: true, previous: null, current: digest(1) },
          final: {
            registry: reg,
            repository: "base",
            tag: "3",
            digest: digest(1),
            at: time(30),
            history: [
              { digest: digest(1), at: time(10) },
              { digest: digest(1), at: time(30) },
            ],
          },
        });
      });

      it("records the deletion of a tag it never saw", async () => {
        const move = await store.moveTag(reg, "base", "gone", null, time(5));
        expect({ move, state: await store.getTag(reg, "base", "gone"), other: await store.getTag(reg, "base", "other") }).toEqual({
          move: { applied: true, previous: null, current: null },
          state: { registry: reg, repository: "base", tag: "gone", digest: null, at: time(5), history: [] },
          other: null,
        });
      });

      it("keeps the newest 100 history entries", async () => {
        for (let n = 1; n <= 103; n += 1) await store.moveTag(reg, "busy", "latest", digest(n), new Date(Date.UTC(2024, 0, 1, 0, 0, n)).toISOString());
        const state = await store.getTag(reg, "busy", "latest");
        expect(state?.history).toEqual(
          Array.from({ length: 100 }, (_, index) => ({ digest: digest(index + 4), at: new Date(Date.UTC(2024, 0, 1, 0, 0, index + 4)).toISOString() })),
        );
      });

      it("lists every tag, deleted ones included, by registry, repository and tag", async () => {
        await store.moveTag("b.example", "x", "1", digest(1), time(1));
        await store.moveTag(reg, "team/b", "2", digest(2), time(2));
        await store.moveTag(reg, "team/a", "9", null, time(3));
        await store.moveTag(reg, "team/a", "10", digest(4), time(4));
        expect(await store.listTags()).toEqual([
          { registry: "b.example", repository: "x", tag: "1", digest: digest(1), at: time(1), history: [{ digest: digest(1), at: time(1) }] },
          { registry: reg, repository: "team/a", tag: "10", digest: digest(4), at: time(4), history: [{ digest: digest(4), at: time(4) }] },
          { registry: reg, repository: "team/a", tag: "9", digest: null, at: time(3), history: [] },
          { registry: reg, repository: "team/b", tag: "2", digest: digest(2), at: time(2), history: [{ digest: digest(2), at: time(2) }] },
        ]);
      });

      it("ends on the newest move when movers race", async () => {
        const moves = await Promise.all(
          [3, 1, 5, 2, 4].map((n) => store.moveTag(reg, "race", "1", digest(n), time(n))),
        );
        const state = await store.getTag(reg, "race", "1");
        expect({
          appliedSomewhere: moves.some((move) => move.applied),
          digest: state?.digest,
          at: state?.at,
          lastHistory: state?.history.at(-1),
        }).toEqual({ appliedSomewhere: true, digest: digest(5), at: time(5), lastHistory: { digest: digest(5), at: time(5) } });
      });
    });

    describe("manifests", () => {
      const facts: ImageManifestFacts = {
        kind: "image",
        digest: digest(7),
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        configDigest: digest(8),
        layers: Array.from({ length: 200 }, (_, n) => digest(1000 + n)),
        diffIds: Array.from({ length: 200 }, (_, n) => digest(2000 + n)),
        annotations: { "org.opencontainers.image.base.name": "registry.local:5000/base:3", "note": "ü🐳".repeat(5000) },
        labels: { maintainer: "team" },
        created: time(1),
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      };
      const index: ImageIndexFacts = {
        kind: "index",
        digest: digest(9),
        mediaType: "application/vnd.oci.image.index.v1+json",
        annotations: {},
        children: [
          { digest: digest(7), mediaType: facts.mediaType, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          { digest: digest(6), mediaType: facts.mediaType, platform: null },
        ],
      };

      it("round-trips large image facts and indexes, by registry and digest", async () => {
        await store.putManifest({ registry: "registry.local:5000", repository: "team/app", facts });
        await store.putManifest({ registry: "registry.local:5000", repository: "team/app", facts });
        await store.putManifest({ registry: "registry.local:5000", repository: "team/app", facts: index });
        expect({
          image: await store.getManifest("registry.local:5000", digest(7)),
          index: await store.getManifest("registry.local:5000", digest(9)),
          otherRegistry: await store.getManifest("other.example", digest(7)),
        }).toEqual({
          image: { registry: "registry.local:5000", repository: "team/app", facts },
          index: { registry: "registry.local:5000", repository: "team/app", facts: index },
          otherRegistry: null,
        });
      });
    });

    describe("edges", () => {
      const base = "registry.local:5000/base:3";
      const base10 = "registry.local:5000/base:30";
      const app = image("team/app");
      const api = image("team/api");
      const pin: Dependent = { kind: "file-pin", repo: "org/service", path: "deploy/Dockerfile", line: 3, digest: digest(1) };

      it("indexes edges by base and by dependent", async () => {
        const edges = [
          edge(app, base),
          edge(app, base, { evidence: "layer-prefix", detail: "5 layers", platform: "linux/amd64" }),
          edge(app, base, { evidence: "layer-prefix", detail: "5 layers", platform: "linux/arm64/v8" }),
          edge(api, base),
          edge(pin, base, { evidence: "dockerfile", detail: "FROM base:3@sha256:…" }),
          edge(api, base10),
        ];
        for (const item of edges) await store.putEdge(item);
        expect({
          dependents: await store.listDependents(base),
          dependents10: await store.listDependents(base10),
          basesOfApi: await store.listBasesOf(dependentKey(api)),
          basesOfPin: await store.listBasesOf(dependentKey(pin)),
          unknown: await store.listDependents("registry.local:5000/base"),
          all: await store.listEdges(),
        }).toEqual({
          dependents: [edges[4], edges[3], edges[0], edges[1], edges[2]],
          dependents10: [edges[5]],
          basesOfApi: [edges[3], edges[5]],
          basesOfPin: [edges[4]],
          unknown: [],
          all: [edges[4], edges[3], edges[0], edges[1], edges[2], edges[5]],
        });
      });

      it("replaces an edge with the same dependent, base, evidence and platform", async () => {
        await store.putEdge(edge(app, base));
        await store.putEdge(edge(app, base, { baseDigest: digest(2), detail: "rebuilt", recordedAt: time(9) }));
        expect({ dependents: await store.listDependents(base), bases: await store.listBasesOf(dependentKey(app)) }).toEqual({
          dependents: [edge(app, base, { baseDigest: digest(2), detail: "rebuilt", recordedAt: time(9) })],
          bases: [edge(app, base, { baseDigest: digest(2), detail: "rebuilt", recordedAt: time(9) })],
        });
      });

      it("removes every edge of one dependent, in both directions", async () => {
        await store.putEdge(edge(app, base));
        await store.putEdge(edge(app, base10, { platform: "linux/amd64" }));
        await store.putEdge(edge(api, base));
        await store.removeEdgesOf(dependentKey(app));
        await store.removeEdgesOf(dependentKey(app));
        await store.removeEdgesOf("never-seen");
        expect({
          dependents: await store.listDependents(base),
          dependents10: await store.listDependents(base10),
          bases: await store.listBasesOf(dependentKey(app)),
          all: await store.listEdges(),
        }).toEqual({ dependents: [edge(api, base)], dependents10: [], bases: [], all: [edge(api, base)] });
      });
    });

    describe("campaigns of one base", () => {
      it("lists only that base's campaigns, also when another base shares the id prefix", async () => {
        const open = (id: string, base: string, second: number) => store.openCampaign({ ...campaign(id, time(second)), base }, []);
        const id = (base: string, n: number) => `${campaignIdPrefix(base)}${String(n).padStart(16, "0")}`;
        await open(id("r.io/a/b:1", 1), "r.io/a/b:1", 1);
        await open(id("r.io/a/b:1", 2), "r.io/a/b:1", 2);
        await open(id("r.io/a-b:1", 3), "r.io/a-b:1", 3);
        await open(id("r.io/a/b:10", 4), "r.io/a/b:10", 4);
        // An id that only reads like the base's (an older id scheme, a collision) is still filtered out by base.
        await open("r.io-a-b-1--0000000000000005", "r.io/a-b:1", 5);
        expect((await store.listCampaigns({ base: "r.io/a/b:1" })).map((stored) => stored.id)).toEqual([id("r.io/a/b:1", 2), id("r.io/a/b:1", 1)]);
        expect(await store.listCampaigns({ base: "r.io/none:1" })).toEqual([]);
      });
    });

    describe("campaigns", () => {
      const deps = [image("team/zeta"), image("team/alpha"), { kind: "file-pin", repo: "org/x", path: "a/Dockerfile", line: 1, digest: digest(1) } as const];

      it("opens a campaign once; a replay returns what is stored and writes nothing", async () => {
        const header = campaign("base-3--0000000000000002");
        const obligations = deps.map((dependent) => obligation(header.id, dependent));
        const first = await store.openCampaign(header, obligations);
        const replay = await store.openCampaign({ ...header, openedAt: time(50), trigger: "other" }, [
          obligation(header.id, image("team/new")),
        ]);
        const sorted = [...obligations].sort(byKey);
        expect({ first, replay, stored: await store.getCampaign(header.id), missing: await store.getCampaign("nope") }).toEqual({
          first: { created: true, campaign: header, obligations: sorted },
          replay: { created: false, campaign: header, obligations: sorted },
          stored: { campaign: header, obligations: sorted },
          missing: null,
        });
      });

      it("opens concurrent duplicates once", async () => {
        const header = campaign("race");
        const obligations = deps.map((dependent) => obligation(header.id, dependent));
        const results = await Promise.all([1, 2, 3].map(() => store.openCampaign(header, obligations)));
        expect({
          created: results.map((result) => result.created).sort(),
          stored: await store.getCampaign(header.id),
        }).toEqual({ created: [false, false, true], stored: { campaign: header, obligations: [...obligations].sort(byKey) } });
      });

      it("opens a campaign with 150 obligations", async () => {
        const header = campaign("wide");
        const obligations = Array.from({ length: 150 }, (_, n) => obligation(header.id, image(`team/app-${n}`)));
        const sorted = [...obligations].sort(byKey);
        const first = await store.openCampaign(header, obligations);
        const replay = await store.openCampaign(header, obligations.slice(0, 10));
        expect({ first, replay, stored: await store.getCampaign(header.id), listed: await store.listCampaigns() }).toEqual({
          first: { created: true, campaign: header, obligations: sorted },
          replay: { created: false, campaign: header, obligations: sorted },
          stored: { campaign: header, obligations: sorted },
          listed: [header],
        });
      });

      it("opens a campaign without obligations", async () => {
        const header = campaign("empty");
        expect({ opened: await store.openCampaign(header, []), stored: await store.getCampaign("empty") }).toEqual({
          opened: { created: true, campaign: header, obligations: [] },
          stored: { campaign: header, obligations: [] },
        });
      });

      it("lists campaigns newest first", async () => {
        await store.openCampaign(campaign("b", time(2)), []);
        await store.openCampaign(campaign("c", time(1)), []);
        await store.openCampaign(campaign("a", time(3)), []);
        await store.openCampaign(campaign("d", time(2)), []);
        expect(await store.listCampaigns()).toEqual([campaign("a", time(3)), campaign("b", time(2)), campaign("d", time(2)), campaign("c", time(1))]);
      });

      it("rejects obligations of another campaign and duplicate dependents", async () => {
        const header = campaign("c1");
        await expect(store.openCampaign(header, [obligation("c2", image("team/a"))])).rejects.toMatchObject({ code: "validation_failed" });
        await expect(store.openCampaign(header, [obligation("c1", image("team/a")), obligation("c1", image("team/a"))])).rejects.toMatchObject({
          code: "validation_failed",
        });
        expect(await store.getCampaign("c1")).toEqual(null);
      });

      it("updates one obligation and returns the new record", async () => {
        const header = campaign("c1");
        const obligations = deps.map((dependent) => obligation(header.id, dependent));
        await store.openCampaign(header, obligations);
        const target = obligations[1] as Obligation;
        const updated = await store.updateObligation(header.id, target.dependentKey, (current) => ({
          ...current,
          state: "scheduled",
          runId: "run-1",
          updatedAt: time(9),
        }));
        const expected: Obligation = {
          ...target,
          state: "scheduled",
          runId: "run-1",
          updatedAt: time(9),
          history: [{ at: time(9), from: "pending", to: "scheduled", why: null, runId: "run-1" }],
        };
        expect({ updated, stored: await store.getCampaign(header.id) }).toEqual({
          updated: expected,
          stored: { campaign: header, obligations: obligations.map((item) => (item === target ? expected : item)).sort(byKey) },
        });
      });

      it("applies every one of many concurrent updates (no lost update)", async () => {
        const header = campaign("busy");
        const target = obligation(header.id, image("team/app"));
        await store.openCampaign(header, [target]);
        const writers = 8;
        const results = await Promise.all(
          Array.from({ length: writers }, () =>
            store.updateObligation(header.id, target.dependentKey, (current) => ({ ...current, reason: String(Number(current.reason ?? "0") + 1) })),
          ),
        );
        expect({
          returned: results.map((result) => Number(result.reason)).sort((a, b) => a - b),
          stored: (await store.getCampaign(header.id))?.obligations,
        }).toEqual({
          returned: Array.from({ length: writers }, (_, n) => n + 1),
          stored: [{ ...target, reason: String(writers) }],
        });
      });

      it("refuses to update an unknown obligation or to change an obligation's identity", async () => {
        const header = campaign("c1");
        const target = obligation(header.id, image("team/app"));
        await store.openCampaign(header, [target]);
        await expect(store.updateObligation("c1", "nope", (current) => current)).rejects.toMatchObject({ code: "not_found" });
        await expect(store.updateObligation("c9", target.dependentKey, (current) => current)).rejects.toMatchObject({ code: "not_found" });
        await expect(store.updateObligation("c1", target.dependentKey, (current) => ({ ...current, dependentKey: "x" }))).rejects.toMatchObject({
          code: "validation_failed",
        });
        expect(await store.getCampaign("c1")).toEqual({ campaign: header, obligations: [target] });
      });
    });

    describe("unfinished events", () => {
      const keysOf = (records: readonly EventRecord[]) => records.map((record) => record.key);

      it("lists the accepted events received by the cutoff, leased or not, oldest first, up to the limit", async () => {
        await store.recordEvent(event("late", time(50)));
        await store.recordEvent({ ...event(AWKWARD_KEYS[1], time(20)), leaseUntil: time(90), requeues: 2 });
        await store.recordEvent(event("first", time(10)));
        await store.recordEvent(event("at-cutoff", time(30)));
        await store.recordEvent(event("ignored", time(5), "ignored"));
        await store.recordEvent({ ...event("rejected", time(6), "rejected"), event: null });
        expect({
          two: await store.listUnfinishedEvents(time(30), 2),
          all: keysOf(await store.listUnfinishedEvents(time(30), 100)),
          none: await store.listUnfinishedEvents(time(30), 0),
          before: await store.listUnfinishedEvents(time(9), 100),
        }).toEqual({
          two: [event("first", time(10)), { ...event(AWKWARD_KEYS[1], time(20)), leaseUntil: time(90), requeues: 2 }],
          all: ["first", AWKWARD_KEYS[1], "at-cutoff"],
          none: [],
          before: [],
        });
      });

      it.each(["processed", "ignored", "rejected", "failed"] as const)("drops an event that ends %s, and takes it back when replayed", async (status) => {
        await store.recordEvent(event("a", time(1)));
        await store.recordEvent(event("b", time(2)));
        await store.setEventStatus("a", status, "ended");
        await store.updateEvent("b", (current) => ({ ...current, status, reason: "ended" }));
        const ended = await store.listUnfinishedEvents(time(60), 10);
        await store.updateEvent("a", (current) => ({ ...current, status: "accepted", reason: "replayed", requeues: 0 }));
        expect({ ended, replayed: await store.listUnfinishedEvents(time(60), 10) }).toEqual({
          ended: [],
          replayed: [{ ...event("a", time(1)), reason: "replayed", requeues: 0 }],
        });
      });

      it("keeps an event while its lease and requeue count change", async () => {
        await store.recordEvent(event("a", time(1)));
        await store.leaseEvent("a", time(61), time(1));
        await store.updateEvent("a", (current) => ({ ...current, leaseUntil: null, requeues: 1 }));
        expect(await store.listUnfinishedEvents(time(60), 10)).toEqual([{ ...event("a", time(1)), leaseUntil: null, requeues: 1 }]);
      });

      it("adds nothing for a duplicate delivery, accepted or not", async () => {
        await store.recordEvent(event("a", time(1)));
        await store.recordEvent(event("b", time(2)));
        await store.setEventStatus("b", "processed", null);
        await store.recordEvent(event("a", time(3)));
        await store.recordEvent(event("b", time(4)));
        expect(await store.listUnfinishedEvents(time(60), 10)).toEqual([event("a", time(1))]);
      });

      it("finds an old unfinished event behind many newer finished and fresh ones", async () => {
        await store.recordEvent(event("old", time(0)));
        for (let n = 0; n < 300; n += 1) await store.recordEvent(event(`done-${n}`, new Date(Date.parse(time(10)) + n).toISOString(), "processed"));
        for (let n = 0; n < 5; n += 1) await store.recordEvent(event(`fresh-${n}`, time(50 + n)));
        expect({
          swept: keysOf(await store.listUnfinishedEvents(time(40), 10)),
          newest: (await store.listEvents(300)).some((record) => record.key === "old"),
        }).toEqual({ swept: ["old"], newest: false });
      });

      it("rejects a cutoff that is not an ISO date-time", async () => {
        await expect(store.listUnfinishedEvents("yesterday", 10)).rejects.toMatchObject({ code: "validation_failed" });
      });
    });

    describe("failed events", () => {
      const keysOf = (records: readonly EventRecord[]) => records.map((record) => record.key);
      const failedEvent = (key: string, receivedAt: string, reason = "gave up"): EventRecord => ({ ...event(key, receivedAt, "failed"), reason });

      it("lists the failed events, however they failed, newest first up to the limit", async () => {
        await store.recordEvent(event("by-status", time(10)));
        await store.recordEvent({ ...event(AWKWARD_KEYS[1], time(30)), requeues: 4 });
        await store.recordEvent(failedEvent("recorded", time(20)));
        await store.recordEvent(event("processed", time(40)));
        await store.recordEvent(event("accepted", time(50)));
        await store.setEventStatus("by-status", "failed", "gave up");
        await store.updateEvent(AWKWARD_KEYS[1], (current) => ({ ...current, status: "failed", reason: "gave up" }));
        await store.setEventStatus("processed", "processed", null);
        expect({
          two: await store.listFailedEvents(2),
          all: keysOf(await store.listFailedEvents(100)),
          none: await store.listFailedEvents(0),
        }).toEqual({
          two: [{ ...failedEvent(AWKWARD_KEYS[1], time(30)), requeues: 4 }, failedEvent("recorded", time(20))],
          all: [AWKWARD_KEYS[1], "recorded", "by-status"],
          none: [],
        });
      });

      it("drops an event once replayed, keeps it out once processed, and takes it back when it fails again", async () => {
        await store.recordEvent(event("a", time(1)));
        await store.recordEvent(event("b", time(2)));
        await store.setEventStatus("a", "failed", "gave up");
        await store.setEventStatus("b", "failed", "gave up");
        const failed = keysOf(await store.listFailedEvents(10));
        await store.updateEvent("a", (current) => ({ ...current, status: "accepted", reason: "replayed", requeues: 0 }));
        await store.updateEvent("b", (current) => ({ ...current, status: "accepted", reason: "replayed", requeues: 0 }));
        const replayed = keysOf(await store.listFailedEvents(10));
        await store.setEventStatus("a", "processed", null);
        await store.setEventStatus("b", "failed", "gave up again");
        expect({ failed, replayed, after: await store.listFailedEvents(10), unfinished: await store.listUnfinishedEvents(time(60), 10) }).toEqual({
          failed: ["b", "a"],
          replayed: [],
          after: [{ ...failedEvent("b", time(2), "gave up again"), requeues: 0 }],
          unfinished: [],
        });
      });

      it("adds nothing for a duplicate delivery and leaves a failure listed when its reason changes", async () => {
        await store.recordEvent(failedEvent("a", time(1)));
        await store.recordEvent(event("a", time(3)));
        await store.recordEvent(failedEvent("b", time(2)));
        await store.setEventStatus("b", "failed", "still failing");
        expect(await store.listFailedEvents(10)).toEqual([failedEvent("b", time(2), "still failing"), failedEvent("a", time(1))]);
      });

      it("finds an old failed event behind many newer ones", async () => {
        await store.recordEvent(failedEvent("old", time(0)));
        for (let n = 0; n < 300; n += 1) await store.recordEvent(event(`done-${n}`, new Date(Date.parse(time(10)) + n).toISOString(), "processed"));
        expect({
          failed: keysOf(await store.listFailedEvents(10)),
          newest: (await store.listEvents(300)).some((record) => record.key === "old"),
        }).toEqual({ failed: ["old"], newest: false });
      });
    });

    describe("event leases and single obligations", () => {
      it("gives the lease of an accepted event to one caller until it expires", async () => {
        await store.recordEvent(event("e1", time(1)));
        const results = await Promise.all([1, 2, 3].map(() => store.leaseEvent("e1", time(61), time(1))));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.leaseEvent("e1", time(70), time(30))).toBe(false);
        expect(await store.leaseEvent("e1", time(130), time(62))).toBe(true);
        await store.setEventStatus("e1", "processed", "done");
        expect(await store.leaseEvent("e1", time(200), time(199))).toBe(false);
        await expect(store.leaseEvent("nope", time(1), time(0))).rejects.toMatchObject({ code: "not_found" });
      });

      it("marks a campaign's jobs queued once", async () => {
        await store.openCampaign(campaign("c2"), []);
        expect(await store.markCampaignQueued("c2", time(5))).toEqual({ ...campaign("c2"), jobsQueuedAt: time(5) });
        expect(await store.markCampaignQueued("c2", time(9))).toEqual({ ...campaign("c2"), jobsQueuedAt: time(5) });
        expect((await store.getCampaign("c2"))?.campaign.jobsQueuedAt).toBe(time(5));
        await expect(store.markCampaignQueued("nope", time(1))).rejects.toMatchObject({ code: "not_found" });
      });

      it("reads one obligation without its campaign", async () => {
        const dependent = image("app", "1");
        await store.openCampaign(campaign("c1"), [obligation("c1", dependent)]);
        expect(await store.getObligation("c1", dependentKey(dependent))).toEqual(obligation("c1", dependent));
        expect(await store.getObligation("c1", "nope")).toBeNull();
        expect(await store.getObligation("nope", dependentKey(dependent))).toBeNull();
      });
    });

    describe("repository scans and pull-request records", () => {
      it("replaces a repository's scan record", async () => {
        const scan = { repository: "org/app", cursor: "W/\"1\"", revision: "abc", scannedAt: time(1), dependents: ["file:org/app:Dockerfile:1"] };
        expect(await store.getRepositoryScan("org/app")).toBeNull();
        await store.putRepositoryScan(scan);
        await store.putRepositoryScan({ ...scan, cursor: "W/\"2\"", dependents: [] });
        expect(await store.getRepositoryScan("org/app")).toEqual({ ...scan, cursor: "W/\"2\"", dependents: [] });
      });

      it("creates and updates a pull-request record with a guard, and lists them newest first", async () => {
        const record = (digest: string, updatedAt: string) => ({
          repository: "org/app", branch: "ripple/docker.io-library-alpine-3.20", base: "docker.io/library/alpine:3.20", digest, campaignId: "c1", number: 7,
          url: "https://github.test/org/app/pull/7", state: "open" as const, title: "t", body: "b", dependents: [], files: ["Dockerfile"], openedAt: time(1), updatedAt,
        });
        await store.savePullRequest("org/app", "ripple/docker.io-library-alpine-3.20", (current) => {
          expect(current).toBeNull();
          return record(digest(3), time(1));
        });
        await Promise.all([1, 2, 3].map(() => store.savePullRequest("org/app", "ripple/docker.io-library-alpine-3.20", (current) => ({ ...current!, number: current!.number + 1 }))));
        await store.savePullRequest("org/other", "ripple/x", () => ({ ...record(digest(4), time(5)), repository: "org/other", branch: "ripple/x" }));
        expect(await store.getPullRequest("org/app", "ripple/docker.io-library-alpine-3.20")).toEqual({ ...record(digest(3), time(1)), number: 10 });
        expect((await store.listPullRequests()).map((pull) => pull.repository)).toEqual(["org/other", "org/app"]);
        expect(await store.getPullRequest("org/app", "nope")).toBeNull();
      });

      const BRANCH = "ripple/docker.io-library-alpine-3.20";
      const pullRecord = (number: number): PullRequestRecord => ({
        repository: "org/app", branch: BRANCH, base: "docker.io/library/alpine:3.20", digest: digest(3), campaignId: "c1", number,
        url: `https://github.test/org/app/pull/${number}`, state: "open", title: "t", body: "b", dependents: ["file:org/app:Dockerfile:1"], files: ["Dockerfile"], openedAt: time(1), updatedAt: time(1),
      });
      const lease = (holder: string, until = time(30)): ProposingLease => ({ holder, digest: digest(3), takenAt: time(1), until });

      it("keeps a branch's proposing lease and record in one slot: a lease alone is no pull request, and a record written with the lease released is one write", async () => {
        expect(await store.updatePullRequestSlot("org/app", BRANCH, (current) => {
          expect(current).toEqual({ record: null, lease: null });
          return { ...current, lease: lease("a") };
        })).toEqual({ record: null, lease: lease("a") });
        expect(await store.getPullRequest("org/app", BRANCH)).toBeNull();
        expect(await store.listPullRequests()).toEqual([]);
        // A patch answering null writes nothing and reads the slot.
        expect(await store.updatePullRequestSlot("org/app", BRANCH, () => null)).toEqual({ record: null, lease: lease("a") });
        expect(await store.updatePullRequestSlot("org/app", "nope", () => null)).toEqual({ record: null, lease: null });

        expect(await store.updatePullRequestSlot("org/app", BRANCH, (current) => ({ record: pullRecord(1), lease: current.lease?.holder === "a" ? null : current.lease }))).toEqual({ record: pullRecord(1), lease: null });
        expect(await store.getPullRequest("org/app", BRANCH)).toEqual(pullRecord(1));
        expect(await store.listPullRequests()).toEqual([pullRecord(1)]);

        // savePullRequest keeps the lease as it is; the record keeps its earlier pull requests.
        await store.updatePullRequestSlot("org/app", BRANCH, (current) => ({ ...current, lease: lease("b") }));
        const earlier: EarlierPullRequest[] = [{ number: 1, url: pullRecord(1).url, digest: digest(3), campaignId: "c1", state: "open", dependents: ["file:org/app:Dockerfile:1"] }];
        await store.savePullRequest("org/app", BRANCH, (current) => ({ ...current!, number: 2, earlier }));
        expect(await store.updatePullRequestSlot("org/app", BRANCH, () => null)).toEqual({ record: { ...pullRecord(1), number: 2, earlier }, lease: lease("b") });
        expect(await store.getPullRequest("org/app", BRANCH)).toEqual({ ...pullRecord(1), number: 2, earlier });
      });

      it("gives a free proposing lease to exactly one of several concurrent takers", async () => {
        const holders = ["w1", "w2", "w3", "w4", "w5", "w6"];
        const slots = await Promise.all(holders.map((holder) => store.updatePullRequestSlot("org/app", BRANCH, (current) => (current.lease === null ? { ...current, lease: lease(holder) } : null))));
        const winners = holders.filter((holder, index) => slots[index]!.lease?.holder === holder);
        expect(winners).toHaveLength(1);
        expect(slots.map((slot) => slot.lease)).toEqual(holders.map(() => lease(winners[0]!)));
        expect(await store.updatePullRequestSlot("org/app", BRANCH, () => null)).toEqual({ record: null, lease: lease(winners[0]!) });
      });
    });

    describe("upstream watch records", () => {
      const hub = "docker.io";
      const local = "registry.local:5000";
      const sighting = (n: number, second: number): UpstreamSighting => ({ digest: digest(n), firstSeenAt: time(second), created: time(second - 1) });
      const upstreamTag = (registry: string, repository: string, tag: string, overrides: Partial<UpstreamTagRecord> = {}): UpstreamTagRecord => ({
        registry,
        repository,
        tag,
        digest: digest(1),
        mediaType: "application/vnd.oci.image.index.v1+json",
        platforms: [
          { platform: "linux/amd64", digest: digest(11) },
          { platform: "linux/arm64/v8", digest: digest(12) },
        ],
        firstSeenAt: time(1),
        created: time(0),
        lastCheckAt: time(2),
        nextCheckAt: time(32),
        lastError: null,
        errors: 0,
        pending: null,
        broughtInAt: time(3),
        history: [sighting(1, 1)],
        ...overrides,
      });
      const listing = (registry: string, repository: string, tags: string[], second = 1): UpstreamListingRecord => ({ registry, repository, listedAt: time(second), tags });
      const origin = (repository: string, n: number, second: number): PatchOriginRecord => ({
        registry: local,
        repository,
        digest: digest(n),
        upstream: `docker.io/library/${repository}:3.20`,
        firstSeenAt: time(second),
        created: null,
        recordedAt: time(second + 1),
      });

      it("creates a tag record, then replaces it under a guard that sees the stored one", async () => {
        const seen: Array<UpstreamTagRecord | null> = [];
        const created = await store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => {
          seen.push(current);
          return upstreamTag(hub, "library/alpine", "3.20", { digest: null, firstSeenAt: null, lastCheckAt: null, broughtInAt: null, history: [] });
        });
        const updated = await store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => {
          seen.push(current);
          return { ...upstreamTag(hub, "library/alpine", "3.20"), pending: sighting(1, 1), broughtInAt: null };
        });
        const fresh = upstreamTag(hub, "library/alpine", "3.20", { digest: null, firstSeenAt: null, lastCheckAt: null, broughtInAt: null, history: [] });
        expect({
          seen,
          created,
          updated,
          stored: await store.getUpstreamTag(hub, "library/alpine", "3.20"),
          otherTag: await store.getUpstreamTag(hub, "library/alpine", "3.19"),
          otherRegistry: await store.getUpstreamTag(local, "library/alpine", "3.20"),
        }).toEqual({
          seen: [null, fresh],
          created: fresh,
          updated: { ...upstreamTag(hub, "library/alpine", "3.20"), pending: sighting(1, 1), broughtInAt: null },
          stored: { ...upstreamTag(hub, "library/alpine", "3.20"), pending: sighting(1, 1), broughtInAt: null },
          otherTag: null,
          otherRegistry: null,
        });
      });

      it("applies every one of many concurrent saves (no lost update)", async () => {
        await store.saveUpstreamTag(hub, "library/alpine", "3.20", () => upstreamTag(hub, "library/alpine", "3.20"));
        const writers = 8;
        const results = await Promise.all(
          Array.from({ length: writers }, () =>
            store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => ({ ...current!, errors: current!.errors + 1, lastError: "429 from upstream" })),
          ),
        );
        expect({
          returned: results.map((result) => result.errors).sort((a, b) => a - b),
          stored: await store.getUpstreamTag(hub, "library/alpine", "3.20"),
        }).toEqual({
          returned: Array.from({ length: writers }, (_, n) => n + 1),
          stored: upstreamTag(hub, "library/alpine", "3.20", { errors: writers, lastError: "429 from upstream" }),
        });
      });

      it("refuses a patch that changes the tag or sets an invalid nextCheckAt, and writes nothing", async () => {
        await store.saveUpstreamTag(hub, "library/alpine", "3.20", () => upstreamTag(hub, "library/alpine", "3.20"));
        await expect(store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => ({ ...current!, tag: "3.21" }))).rejects.toMatchObject({
          code: "validation_failed",
        });
        await expect(store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => ({ ...current!, nextCheckAt: "soon" }))).rejects.toMatchObject({
          code: "validation_failed",
        });
        await expect(store.saveUpstreamTag(hub, "library/node", "20", () => upstreamTag(hub, "library/alpine", "3.20"))).rejects.toMatchObject({
          code: "validation_failed",
        });
        expect(await store.listUpstreamTags()).toEqual([upstreamTag(hub, "library/alpine", "3.20")]);
      });

      it("removes a tag record idempotently, leaving the repository's other tags and its listing", async () => {
        for (const tag of ["3.19", "3.20"]) await store.saveUpstreamTag(hub, "library/alpine", tag, () => upstreamTag(hub, "library/alpine", tag));
        await store.putUpstreamListing(listing(hub, "library/alpine", ["3.19", "3.20"]));
        await store.removeUpstreamTag(hub, "library/alpine", "3.19");
        await store.removeUpstreamTag(hub, "library/alpine", "3.19");
        await store.removeUpstreamTag(hub, "library/alpine", "never-watched");
        await store.removeUpstreamTag("unknown.example", "nobody/nothing", "1");
        expect({
          removed: await store.getUpstreamTag(hub, "library/alpine", "3.19"),
          all: await store.listUpstreamTags(),
          listing: await store.getUpstreamListing(hub, "library/alpine"),
        }).toEqual({
          removed: null,
          all: [upstreamTag(hub, "library/alpine", "3.20")],
          listing: listing(hub, "library/alpine", ["3.19", "3.20"]),
        });
      });

      it("lists tag records by registry, repository and tag, without listings or patch origins", async () => {
        const keys = [
          [local, "team/base/node", "20.11_rc-1.dev"],
          [hub, "library/alpine", "3.9"],
          ["ghcr.io", "org/tools", "latest"],
          [local, "team/base", "1"],
          [hub, "library/alpine", "3.20"],
          [local, "team/base/node", "20.11"],
          [hub, "library/alpine", "~listing"],
        ] as const;
        for (const [registry, repository, tag] of keys) await store.saveUpstreamTag(registry, repository, tag, () => upstreamTag(registry, repository, tag));
        await store.putUpstreamListing(listing(hub, "library/alpine", ["3.20", "3.9"]));
        await store.putUpstreamListing(listing(local, "team/base/node", ["20.11"]));
        await store.putPatchOrigin(origin("team/base/node", 5, 1));
        expect({
          all: await store.listUpstreamTags(),
          oddTag: await store.getUpstreamTag(hub, "library/alpine", "~listing"),
          listing: await store.getUpstreamListing(hub, "library/alpine"),
        }).toEqual({
          all: [
            upstreamTag(hub, "library/alpine", "3.20"),
            upstreamTag(hub, "library/alpine", "3.9"),
            upstreamTag(hub, "library/alpine", "~listing"),
            upstreamTag("ghcr.io", "org/tools", "latest"),
            upstreamTag(local, "team/base", "1"),
            upstreamTag(local, "team/base/node", "20.11"),
            upstreamTag(local, "team/base/node", "20.11_rc-1.dev"),
          ],
          oddTag: upstreamTag(hub, "library/alpine", "~listing"),
          listing: listing(hub, "library/alpine", ["3.20", "3.9"]),
        });
      });

      it("keeps awkward registries, repositories and tags intact and apart", async () => {
        for (const [n, key] of AWKWARD_KEYS.entries()) {
          await store.saveUpstreamTag(key, key, key, () => upstreamTag(key, key, key, { digest: digest(n + 1) }));
          await store.putUpstreamListing(listing(key, key, [key]));
          await store.putPatchOrigin({ ...origin(key, n + 1, n), registry: key, digest: key });
        }
        expect({
          tags: (await store.listUpstreamTags()).map((record) => [record.tag, record.digest]),
          read: await Promise.all(AWKWARD_KEYS.map((key) => store.getUpstreamTag(key, key, key))),
          listings: await Promise.all(AWKWARD_KEYS.map((key) => store.getUpstreamListing(key, key))),
          origins: await Promise.all(AWKWARD_KEYS.map((key) => store.getPatchOrigin(key, key, key))),
        }).toEqual({
          tags: [...AWKWARD_KEYS].sort().map((key) => [key, digest(AWKWARD_KEYS.indexOf(key) + 1)]),
          read: AWKWARD_KEYS.map((key, n) => upstreamTag(key, key, key, { digest: digest(n + 1) })),
          listings: AWKWARD_KEYS.map((key) => listing(key, key, [key])),
          origins: AWKWARD_KEYS.map((key, n) => ({ ...origin(key, n + 1, n), registry: key, digest: key })),
        });
      });

      it("puts, reads and replaces a repository's listing", async () => {
        const before = await store.getUpstreamListing(hub, "library/alpine");
        await store.putUpstreamListing(listing(hub, "library/alpine", ["3.19", "3.20"], 1));
        await store.putUpstreamListing(listing(hub, "library/node", ["20"], 2));
        await store.putUpstreamListing(listing(hub, "library/alpine", ["3.20", "3.21"], 3));
        expect({
          before,
          alpine: await store.getUpstreamListing(hub, "library/alpine"),
          node: await store.getUpstreamListing(hub, "library/node"),
          otherRegistry: await store.getUpstreamListing(local, "library/alpine"),
          tags: await store.listUpstreamTags(),
        }).toEqual({
          before: null,
          alpine: listing(hub, "library/alpine", ["3.20", "3.21"], 3),
          node: listing(hub, "library/node", ["20"], 2),
          otherRegistry: null,
          tags: [],
        });
        await expect(store.putUpstreamListing(listing(hub, "library/alpine", [], 4))).resolves.toBeUndefined();
        await expect(store.putUpstreamListing({ ...listing(hub, "library/alpine", []), listedAt: "now" })).rejects.toMatchObject({ code: "validation_failed" });
        expect(await store.getUpstreamListing(hub, "library/alpine")).toEqual(listing(hub, "library/alpine", [], 4));
      });

      it("keeps a patch origin against replays and older sightings, per registry and repository", async () => {
        await store.putPatchOrigin(origin("alpine", 1, 10));
        await store.putPatchOrigin({ ...origin("alpine", 1, 10), upstream: "docker.io/library/alpine:replayed" });
        await store.putPatchOrigin({ ...origin("alpine", 1, 5), upstream: "docker.io/library/alpine:older" });
        await store.putPatchOrigin(origin("node", 1, 30));
        await expect(store.putPatchOrigin({ ...origin("alpine", 2, 1), firstSeenAt: "earlier" })).rejects.toMatchObject({ code: "validation_failed" });
        expect({
          first: await store.getPatchOrigin(local, "alpine", digest(1)),
          otherRepository: await store.getPatchOrigin(local, "node", digest(1)),
          otherRegistry: await store.getPatchOrigin(hub, "alpine", digest(1)),
          rejected: await store.getPatchOrigin(local, "alpine", digest(2)),
          unknown: await store.getPatchOrigin(local, "alpine", digest(9)),
        }).toEqual({
          first: origin("alpine", 1, 10),
          otherRepository: origin("node", 1, 30),
          otherRegistry: null,
          rejected: null,
          unknown: null,
        });
      });

      it("replaces a patch origin with a later sighting of the digest (a rollback to it)", async () => {
        await store.putPatchOrigin(origin("alpine", 1, 10));
        await store.putPatchOrigin({ ...origin("alpine", 1, 40), upstream: "docker.io/library/alpine:rolled-back" });
        expect(await store.getPatchOrigin(local, "alpine", digest(1))).toEqual({ ...origin("alpine", 1, 40), upstream: "docker.io/library/alpine:rolled-back" });
      });

      it("ends on the latest of several concurrent patch origins of a digest", async () => {
        const candidates = [30, 10, 20].map((second) => origin("alpine", 1, second));
        await Promise.all(candidates.map((record) => store.putPatchOrigin(record)));
        expect(await store.getPatchOrigin(local, "alpine", digest(1))).toEqual(origin("alpine", 1, 30));
      });

      it("is not changed through objects passed in, handed out or given to a failing patch", async () => {
        const record = upstreamTag(hub, "library/alpine", "3.20");
        await store.saveUpstreamTag(hub, "library/alpine", "3.20", () => record);
        (record.history as UpstreamSighting[]).push(sighting(2, 2));
        const read = await store.getUpstreamTag(hub, "library/alpine", "3.20");
        (read!.platforms as Array<{ platform: string; digest: string }>).pop();
        await expect(
          store.saveUpstreamTag(hub, "library/alpine", "3.20", (current) => {
            (current as { errors: number }).errors = 99;
            throw new Error("the watcher crashed");
          }),
        ).rejects.toThrow("the watcher crashed");

        const theListing = listing(hub, "library/alpine", ["3.20"]);
        await store.putUpstreamListing(theListing);
        (theListing.tags as string[]).push("3.21");
        ((await store.getUpstreamListing(hub, "library/alpine"))!.tags as string[]).push("3.22");

        const theOrigin = origin("alpine", 1, 10);
        await store.putPatchOrigin(theOrigin);
        (theOrigin as { upstream: string }).upstream = "changed";
        ((await store.getPatchOrigin(local, "alpine", digest(1))) as { firstSeenAt: string }).firstSeenAt = time(59);

        expect({
          tag: await store.getUpstreamTag(hub, "library/alpine", "3.20"),
          listed: await store.listUpstreamTags(),
          listing: await store.getUpstreamListing(hub, "library/alpine"),
          origin: await store.getPatchOrigin(local, "alpine", digest(1)),
        }).toEqual({
          tag: upstreamTag(hub, "library/alpine", "3.20"),
          listed: [upstreamTag(hub, "library/alpine", "3.20")],
          listing: listing(hub, "library/alpine", ["3.20"]),
          origin: origin("alpine", 1, 10),
        });
      });
    });

    describe("runs", () => {
      const run = (image: string, registry: string, claimedAt: string): RunRecord => ({
        key: runKey(image, digest(9)),
        image,
        registry,
        base: "docker.io/library/alpine:3.20",
        baseDigest: digest(9),
        campaignId: "c1",
        builder: "buildah",
        status: "claimed",
        runId: null,
        logsUrl: null,
        reason: null,
        attempts: 0,
        claimedAt,
        startedAt: null,
        finishedAt: null,
        updatedAt: claimedAt,
      });

      it("lets exactly one of several concurrent claimants claim a run", async () => {
        const record = run("r.io/apps/web:1", "r.io", time(1));
        const results = await Promise.all([1, 2, 3].map((n) => store.claimRun({ ...record, builder: `b${n}` })));
        expect(results.filter((result) => result.claimed)).toHaveLength(1);
        const winner = results.find((result) => result.claimed)!.record;
        expect(results.map((result) => result.record)).toEqual([winner, winner, winner]);
        expect(await store.getRun("r.io", record.key)).toEqual(winner);
      });

      it("updates a run with a guard and lists one registry's runs newest first", async () => {
        await store.claimRun(run("r.io/apps/a:1", "r.io", time(1)));
        await store.claimRun(run("r.io/apps/b:1", "r.io", time(2)));
        await store.claimRun(run("other.io/x:1", "other.io", time(3)));
        await Promise.all([1, 2, 3, 4].map(() => store.updateRun("r.io", runKey("r.io/apps/a:1", digest(9)), (current) => ({ ...current, attempts: current.attempts + 1 }))));
        expect((await store.getRun("r.io", runKey("r.io/apps/a:1", digest(9))))?.attempts).toBe(4);
        expect((await store.listRuns("r.io")).map((record) => record.image)).toEqual(["r.io/apps/b:1", "r.io/apps/a:1"]);
        expect((await store.listRuns()).map((record) => record.image)).toEqual(["other.io/x:1", "r.io/apps/b:1", "r.io/apps/a:1"]);
        await expect(store.updateRun("r.io", "nope", (current) => current)).rejects.toMatchObject({ code: "not_found" });
        expect(await store.getRun("r.io", "nope")).toBeNull();
      });
    });

    describe("keys with characters Table Storage forbids or escapes", () => {
      it.each(AWKWARD_KEYS.map((key) => [key]))("keeps %j intact everywhere", async (key) => {
        const dependent: Dependent = { kind: "file-pin", repo: key, path: key, line: 1, digest: digest(1) };
        const theEdge = edge(dependent, key, { platform: key });
        const header = campaign(key);
        const theObligation = obligation(key, dependent);
        await store.recordEvent(event(key, time(1)));
        const move = await store.moveTag(key, key, key, digest(1), time(1));
        await store.putManifest({ registry: key, repository: key, facts: { kind: "index", digest: key, mediaType: "m", annotations: {}, children: [] } });
        await store.putEdge(theEdge);
        const opened = await store.openCampaign(header, [theObligation]);
        const updated = await store.updateObligation(key, dependentKey(dependent), (current) => ({ ...current, state: "done" }));
        expect({
          event: await store.getEvent(key),
          move,
          tag: await store.getTag(key, key, key),
          manifest: await store.getManifest(key, key),
          dependents: await store.listDependents(key),
          bases: await store.listBasesOf(dependentKey(dependent)),
          opened: opened.created,
          updated: updated.state,
          campaign: await store.getCampaign(key),
        }).toEqual({
          event: event(key, time(1)),
          move: { applied: true, previous: null, current: digest(1) },
          tag: { registry: key, repository: key, tag: key, digest: digest(1), at: time(1), history: [{ digest: digest(1), at: time(1) }] },
          manifest: { registry: key, repository: key, facts: { kind: "index", digest: key, mediaType: "m", annotations: {}, children: [] } },
          dependents: [theEdge],
          bases: [theEdge],
          opened: true,
          updated: "done",
          campaign: { campaign: header, obligations: [{ ...theObligation, state: "done", history: [{ at: time(0), from: "pending", to: "done", why: null, runId: null }] }] },
        });
      });

      it("keeps keys that differ only by case or by escaping apart", async () => {
        for (const [n, key] of AWKWARD_KEYS.entries()) {
          await store.recordEvent(event(key, time(n)));
          await store.moveTag("r", "repo", key, digest(n + 1), time(n));
        }
        expect({
          events: (await store.listEvents(100)).map((record) => record.key).sort(),
          tags: (await store.listTags()).map((tag) => [tag.tag, tag.digest]).sort(),
        }).toEqual({
          events: [...AWKWARD_KEYS].sort(),
          tags: AWKWARD_KEYS.map((key, n) => [key, digest(n + 1)]).sort(),
        });
      });
    });

    describe("SLA records", () => {
      it("indexes an opened campaign once, makes it due on every obligation change (not on a no-op), and removes it once checked as settled", async () => {
        const header = campaign("c1", time(1));
        const target = obligation(header.id, image("team/app"));
        await store.openCampaign(header, [target]);
        await store.openCampaign(header, [target]);
        const [opened] = await store.listOpenCampaigns();
        const counts = { onTrack: 1, atRisk: 0, overdue: 0, failed: 0, waived: 0 };
        const written = await store.markCampaignChecked("c1", opened!.version, time(2), time(30), false, counts);
        const [checked] = await store.listOpenCampaigns();
        await store.updateObligation(header.id, target.dependentKey, (current) => current);
        const [unchanged] = await store.listOpenCampaigns();
        await store.updateObligation(header.id, target.dependentKey, (current) => ({ ...current, state: "done", updatedAt: time(5) }));
        const [touched] = await store.listOpenCampaigns();
        // A check of the entry as it was before the change writes nothing: the change keeps it due.
        const stale = await store.markCampaignChecked("c1", checked!.version, time(6), null, true);
        const [kept] = await store.listOpenCampaigns();
        const settledNow = await store.markCampaignChecked("c1", touched!.version, time(6), null, true);
        const shape = (entry: OpenCampaignEntry | undefined) => entry && { ...entry, version: typeof entry.version };
        expect({ written, stale, settledNow, opened: shape(opened), checked: shape(checked), unchangedVersion: unchanged!.version === checked!.version, touched: shape(touched), keptVersion: kept!.version === touched!.version, settled: await store.listOpenCampaigns() }).toEqual({
          written: true,
          stale: false,
          settledNow: true,
          opened: { campaignId: "c1", openedAt: time(1), checkedAt: null, nextCheckAt: null, version: "string", counts: null },
          checked: { campaignId: "c1", openedAt: time(1), checkedAt: time(2), nextCheckAt: time(30), version: "string", counts },
          unchangedVersion: true,
          touched: { campaignId: "c1", openedAt: time(1), checkedAt: time(2), nextCheckAt: null, version: "string", counts },
          keptVersion: true,
          settled: [],
        });
      });

      it("keeps an unsettled campaign with its next check, and re-adds a settled one a change touches", async () => {
        await store.openCampaign(campaign("a", time(1)), [obligation("a", image("team/a"))]);
        await store.openCampaign(campaign("b", time(2)), [obligation("b", image("team/b"))]);
        const listed = new Map((await store.listOpenCampaigns()).map((entry) => [entry.campaignId, entry.version]));
        await store.markCampaignChecked("a", listed.get("a")!, time(3), time(40), false);
        await store.markCampaignChecked("b", listed.get("b")!, time(3), null, true);
        await store.markCampaignChecked("b", listed.get("b")!, time(3), null, true); // gone already: nothing happens
        const checked = await store.listOpenCampaigns();
        await store.touchOpenCampaign("b", time(7));
        const strip = (entries: OpenCampaignEntry[]) => entries.map(({ version: _, ...entry }) => entry);
        expect({ checked: strip(checked), touched: strip(await store.listOpenCampaigns()) }).toEqual({
          checked: [{ campaignId: "a", openedAt: time(1), checkedAt: time(3), nextCheckAt: time(40), counts: null }],
          touched: [
            { campaignId: "a", openedAt: time(1), checkedAt: time(3), nextCheckAt: time(40), counts: null },
            { campaignId: "b", openedAt: time(7), checkedAt: null, nextCheckAt: null, counts: null },
          ],
        });
      });

      it("keeps campaign progress with a guard", async () => {
        await store.saveProgress("c1", (current) => ({ campaignId: "c1", opened: true, seen: { ...(current?.seen ?? {}), a: "done@1" } }));
        await store.saveProgress("c1", (current) => ({ campaignId: "c1", opened: true, seen: { ...(current?.seen ?? {}), b: "failed@2" } }));
        expect({ one: await store.getProgress("c1"), none: await store.getProgress("c2"), alerts: await store.listAlerts() }).toEqual({
          one: { campaignId: "c1", opened: true, seen: { a: "done@1", b: "failed@2" } },
          none: null,
          alerts: [],
        });
      });

      it("saves alerts with a guard, lists them newest first, and keeps waivers and duration samples", async () => {
        const alert = (campaignId: string, updatedAt: string, sequence: number): AlertRecord => ({
          campaignId,
          state: { status: "open", level: "critical", openedAt: time(1), notifiedAt: time(1), criticalSince: time(1), escalatedAt: null, resolvedAt: null, items: [{ dependentKey: "x", status: "failed", step: "rebuild failed" }], sequence },
          message: null,
          wanted: { pd: { sequence, action: "trigger" } },
          deliveries: {},
          updatedAt,
        });
        await store.saveAlert("c1", (current) => alert("c1", time(2), (current?.state.sequence ?? 0) + 1));
        await store.saveAlert("c1", (current) => alert("c1", time(4), (current?.state.sequence ?? 0) + 1));
        await store.saveAlert("c2", () => alert("c2", time(3), 1));
        const waiver = (id: string, createdAt: string): WaiverRecord => ({ id, campaignId: null, dependent: "team/*", until: time(50), reason: "freeze", by: "oncall@contoso.com", createdAt });
        await store.putWaiver(waiver("w1", time(1)));
        await store.putWaiver(waiver("w2", time(2)));
        await store.putWaiver(waiver("w1", time(1)));
        for (let n = 0; n < 22; n += 1) await store.addDuration("image:a", `c${n}|image:a`, n * 1000);
        await store.addDuration("image:a", "c21|image:a", 99);
        for (let n = 0; n < 21; n += 1) await store.addMergeLatency("contoso/deploy", `c${n}|file:contoso/deploy:a.yaml:1`, n * 60_000);
        await store.addMergeLatency("contoso/deploy", "c20|file:contoso/deploy:a.yaml:1", 7);
        await store.addMergeLatency("contoso/other", "c1|file:contoso/other:b.yaml:2", 5);
        expect({
          one: await store.getAlert("c1"),
          none: await store.getAlert("c9"),
          alerts: (await store.listAlerts()).map((record) => [record.campaignId, record.state.sequence]),
          waivers: await store.listWaivers(),
          durations: await store.getDurations("image:a"),
          noDurations: await store.getDurations("image:b"),
          mergeLatencies: await store.getMergeLatencies("contoso/deploy"),
          other: await store.getMergeLatencies("contoso/other"),
          noMergeLatencies: await store.getMergeLatencies("contoso/none"),
        }).toEqual({
          one: alert("c1", time(4), 2),
          none: null,
          alerts: [["c1", 2], ["c2", 1]],
          waivers: [waiver("w2", time(2)), waiver("w1", time(1))],
          durations: { dependentKey: "image:a", samples: Array.from({ length: 20 }, (_, n) => ({ obligation: `c${n + 2}|image:a`, ms: (n + 2) * 1000 })) },
          noDurations: null,
          mergeLatencies: { repository: "contoso/deploy", samples: Array.from({ length: 20 }, (_, n) => ({ obligation: `c${n + 1}|file:contoso/deploy:a.yaml:1`, ms: (n + 1) * 60_000 })) },
          other: { repository: "contoso/other", samples: [{ obligation: "c1|file:contoso/other:b.yaml:2", ms: 5 }] },
          noMergeLatencies: null,
        });
      });

      it("applies concurrent alert saves one after the other", async () => {
        await Promise.all(Array.from({ length: 6 }, () => store.saveAlert("busy", (current) => ({
          campaignId: "busy",
          state: { status: "open", level: "warning", openedAt: time(1), notifiedAt: time(1), criticalSince: null, escalatedAt: null, resolvedAt: null, items: [], sequence: (current?.state.sequence ?? 0) + 1 },
          message: null,
          wanted: {},
          deliveries: {},
          updatedAt: time(1),
        }))));
        expect((await store.getAlert("busy"))?.state.sequence).toEqual(6);
      });
    });

    describe("isolation of stored values", () => {
      it("is not changed through objects passed in or handed out", async () => {
        const record = event("k", time(1));
        await store.recordEvent(record);
        (record as { status: string }).status = "failed";
        const read = await store.getEvent("k");
        (read as { reason: string | null }).reason = "changed by caller";

        const header = campaign("c");
        const target = obligation("c", image("team/app"));
        const opened = await store.openCampaign(header, [target]);
        (opened.obligations[0] as { state: string }).state = "done";
        (target as { runId: string | null }).runId = "changed";

        const theEdge = edge(image("team/app"), "b");
        await store.putEdge(theEdge);
        (theEdge as { detail: string }).detail = "changed";

        expect({
          event: await store.getEvent("k"),
          obligations: (await store.getCampaign("c"))?.obligations,
          edges: await store.listEdges(),
        }).toEqual({
          event: event("k", time(1)),
          obligations: [obligation("c", image("team/app"))],
          edges: [edge(image("team/app"), "b")],
        });
      });
    });
  });
}
