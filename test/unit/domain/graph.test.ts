import { describe, expect, it } from "vitest";
import type { DependencyEdge, Dependent, Evidence } from "../../../shared/domain/dependency.js";
import { buildDependencyGraph, type Impact, type Lineage, type OutdatedEntry } from "../../../shared/domain/graph.js";

const ALPINE = "docker.io/library/alpine:3.20";
const COMPANY = "acr.example.io/company-base:1";
const APP = "acr.example.io/app:1";
const WORKER = "acr.example.io/worker:2";
const PIN = "file:org/svc:Dockerfile:1";

function image(repository: string, tag: string, digest = `sha256:${repository.replace(/\W/g, "")}-${tag}`): Dependent {
  return { kind: "image", registry: "acr.example.io", repository, tag, digest };
}

function pin(repo: string, path: string, line: number): Dependent {
  return { kind: "file-pin", repo, path, line, digest: "sha256:pinned" };
}

function edge(
  dependent: Dependent,
  base: string,
  baseDigest: string,
  options: { evidence?: Evidence; platform?: string | null; recordedAt?: string; detail?: string } = {},
): DependencyEdge {
  const evidence = options.evidence ?? "annotation";
  return {
    dependent,
    base,
    baseDigest,
    evidence,
    detail: options.detail ?? `${evidence} ${base}`,
    platform: options.platform ?? null,
    recordedAt: options.recordedAt ?? "2024-05-01T10:00:00Z",
  };
}

/** `node` built on `base`: images are named by their key, so `image("x", "1")` is `acr.example.io/x:1`. */
function node(name: string): Dependent {
  const [repository, tag] = name.split(":") as [string, string];
  return image(repository, tag);
}
const key = (name: string): string => `acr.example.io/${name}`;

const companyBase = image("company-base", "1");
const app = image("app", "1");
const worker = image("worker", "2");
const svcPin = pin("org/svc", "Dockerfile", 1);

const companyOnAlpine = edge(companyBase, ALPINE, "sha256:alpine-old");
const appOnCompany = edge(app, COMPANY, "sha256:company-new");
const appOnAlpine = edge(app, ALPINE, "sha256:alpine-old", { evidence: "dockerfile", detail: "FROM alpine:3.20" });
const pinOnAlpine = edge(svcPin, ALPINE, "sha256:alpine-new", { evidence: "dockerfile", detail: "line 1" });
const workerOnAppAmd = edge(worker, APP, "sha256:app-amd64", { evidence: "layer-prefix", platform: "linux/amd64", detail: "5 layers" });
const workerOnAppArm = edge(worker, APP, "sha256:app-arm64", { evidence: "layer-prefix", platform: "linux/arm64", detail: "5 layers" });

const diamond = [workerOnAppArm, pinOnAlpine, appOnAlpine, workerOnAppAmd, appOnCompany, companyOnAlpine];
const digests = new Map([
  [ALPINE, "sha256:alpine-new"],
  [COMPANY, "sha256:company-new"],
]);

describe("lineage", () => {
  // As text the older record sorts last; as instants it is half an hour older.
  const newer = edge(app, ALPINE, "sha256:alpine-new", { recordedAt: "2024-05-31T23:30:00Z" });
  const older = edge(app, COMPANY, "sha256:company-new", { recordedAt: "2024-06-01T01:00:00+02:00" });
  const a = node("a:1");
  const b = node("b:1");
  const c = node("c:1");
  const cases: Array<[string, DependencyEdge[], string, Lineage]> = [
    ["an unknown key", diamond, "acr.example.io/nope:1", { steps: [], cycle: null }],
    ["a root base", diamond, ALPINE, { steps: [], cycle: null }],
    [
      "a file pin on a current base",
      diamond,
      PIN,
      {
        steps: [
          {
            key: PIN,
            base: ALPINE,
            baseDigest: "sha256:alpine-new",
            currentDigest: "sha256:alpine-new",
            evidence: "dockerfile",
            detail: "line 1",
            platform: null,
            upToDate: true,
          },
        ],
        cycle: null,
      },
    ],
    [
      "several bases: annotation beats dockerfile, and the platform edges of a layer-prefix base",
      diamond,
      WORKER,
      {
        steps: [
          {
            key: WORKER,
            base: APP,
            baseDigest: "sha256:app-amd64",
            currentDigest: null,
            evidence: "layer-prefix",
            detail: "5 layers",
            platform: "linux/amd64",
            upToDate: false,
          },
          {
            key: APP,
            base: COMPANY,
            baseDigest: "sha256:company-new",
            currentDigest: "sha256:company-new",
            evidence: "annotation",
            detail: `annotation ${COMPANY}`,
            platform: null,
            upToDate: true,
          },
          {
            key: COMPANY,
            base: ALPINE,
            baseDigest: "sha256:alpine-old",
            currentDigest: "sha256:alpine-new",
            evidence: "annotation",
            detail: `annotation ${ALPINE}`,
            platform: null,
            upToDate: false,
          },
        ],
        cycle: null,
      },
    ],
    [
      "equal evidence: the newest record wins, compared as instants",
      [older, newer],
      APP,
      {
        steps: [
          {
            key: APP,
            base: ALPINE,
            baseDigest: "sha256:alpine-new",
            currentDigest: "sha256:alpine-new",
            evidence: "annotation",
            detail: `annotation ${ALPINE}`,
            platform: null,
            upToDate: true,
          },
        ],
        cycle: null,
      },
    ],
    [
      "a loop: stops after the edge that closes it",
      [edge(a, key("b:1"), "sha256:b"), edge(b, key("c:1"), "sha256:c"), edge(c, key("b:1"), "sha256:b2")],
      key("a:1"),
      {
        steps: [
          { key: key("a:1"), base: key("b:1"), baseDigest: "sha256:b", currentDigest: null, evidence: "annotation", detail: `annotation ${key("b:1")}`, platform: null, upToDate: false },
          { key: key("b:1"), base: key("c:1"), baseDigest: "sha256:c", currentDigest: null, evidence: "annotation", detail: `annotation ${key("c:1")}`, platform: null, upToDate: false },
          { key: key("c:1"), base: key("b:1"), baseDigest: "sha256:b2", currentDigest: null, evidence: "annotation", detail: `annotation ${key("b:1")}`, platform: null, upToDate: false },
        ],
        cycle: [key("b:1"), key("c:1")],
      },
    ],
    [
      "a node on itself",
      [edge(a, key("a:1"), "sha256:a")],
      key("a:1"),
      {
        steps: [{ key: key("a:1"), base: key("a:1"), baseDigest: "sha256:a", currentDigest: null, evidence: "annotation", detail: `annotation ${key("a:1")}`, platform: null, upToDate: false }],
        cycle: [key("a:1")],
      },
    ],
  ];

  it.each(cases)("%s", (_name, edges, start, expected) => {
    expect(buildDependencyGraph(edges, digests).lineage(start)).toEqual(expected);
  });

  it("walks a chain 20,000 deep without recursion", () => {
    const depth = 20_000;
    const name = (level: number): string => `n${String(level).padStart(5, "0")}:1`;
    const edges = Array.from({ length: depth }, (_, level) => edge(node(name(level + 1)), key(name(level)), `sha256:${level}`));
    const steps = buildDependencyGraph(edges, new Map()).lineage(key(name(depth))).steps;
    expect(steps.map((step) => [step.key, step.base])).toEqual(
      Array.from({ length: depth }, (_, index) => [key(name(depth - index)), key(name(depth - index - 1))]),
    );
  });
});

describe("impact", () => {
  const a = node("a:1");
  const b = node("b:1");
  const c = node("c:1");
  const d = node("d:1");
  const onRoot = (dependent: Dependent): DependencyEdge => edge(dependent, ALPINE, "sha256:alpine-old");
  const bOnC = edge(b, key("c:1"), "sha256:c");
  const cOnB = edge(c, key("b:1"), "sha256:b");
  const dOnC = edge(d, key("c:1"), "sha256:c");
  const alpine: Dependent = { kind: "image", registry: "docker.io", repository: "library/alpine", tag: "3.20", digest: "sha256:alpine-new" };
  const alpineOnA = edge(alpine, key("a:1"), "sha256:a");

  const cases: Array<[string, DependencyEdge[], string, Impact]> = [
    ["an unknown key", diamond, "docker.io/library/nope:1", { waves: [], cycles: [] }],
    ["a key nothing is built on", diamond, WORKER, { waves: [], cycles: [] }],
    [
      "a diamond: the app on both alpine and company-base goes after company-base; the worker's platform edges collapse",
      diamond,
      ALPINE,
      {
        waves: [
          [
            { key: COMPANY, dependent: companyBase, edges: [companyOnAlpine] },
            { key: PIN, dependent: svcPin, edges: [pinOnAlpine] },
          ],
          [{ key: APP, dependent: app, edges: [appOnCompany, appOnAlpine] }],
          [{ key: WORKER, dependent: worker, edges: [workerOnAppAmd, workerOnAppArm] }],
        ],
        cycles: [],
      },
    ],
    [
      "a mid-graph base: only the edges into the impacted set are listed",
      diamond,
      COMPANY,
      {
        waves: [[{ key: APP, dependent: app, edges: [appOnCompany] }], [{ key: WORKER, dependent: worker, edges: [workerOnAppAmd, workerOnAppArm] }]],
        cycles: [],
      },
    ],
    [
      "a loop among dependents is reported, left out, and what is built on it still follows its level",
      [onRoot(a), onRoot(b), bOnC, cOnB, dOnC],
      ALPINE,
      {
        waves: [[{ key: key("a:1"), dependent: a, edges: [onRoot(a)] }], [{ key: key("d:1"), dependent: d, edges: [dOnC] }]],
        cycles: [[key("b:1"), key("c:1")]],
      },
    ],
    [
      "a loop through the queried base itself",
      [onRoot(a), onRoot(b), alpineOnA, onRoot(d)],
      ALPINE,
      {
        waves: [[{ key: key("b:1"), dependent: b, edges: [onRoot(b)] }, { key: key("d:1"), dependent: d, edges: [onRoot(d)] }]],
        cycles: [[key("a:1"), ALPINE]],
      },
    ],
    [
      "a self-loop below the base",
      [onRoot(a), edge(a, key("a:1"), "sha256:a"), edge(b, key("a:1"), "sha256:a")],
      ALPINE,
      { waves: [[{ key: key("b:1"), dependent: b, edges: [edge(b, key("a:1"), "sha256:a")] }]], cycles: [[key("a:1")]] },
    ],
  ];

  it.each(cases)("%s", (_name, edges, base, expected) => {
    expect(buildDependencyGraph(edges, digests).impact(base)).toEqual(expected);
  });

  it("gives the same answer when asked twice, and after other queries", () => {
    const graph = buildDependencyGraph(diamond, digests);
    const first = graph.impact(ALPINE);
    graph.impact(COMPANY);
    graph.cycles();
    expect(graph.impact(ALPINE)).toEqual(first);
  });

  it("orders a chain 20,000 deep one wave per level without recursion", () => {
    const depth = 20_000;
    const name = (level: number): string => `n${String(level).padStart(5, "0")}:1`;
    const edges = Array.from({ length: depth }, (_, level) => edge(node(name(level + 1)), key(name(level)), `sha256:${level}`));
    const { waves, cycles } = buildDependencyGraph(edges, new Map()).impact(key(name(0)));
    expect({ waves: waves.map((wave) => wave.map((member) => member.key)), cycles }).toEqual({
      waves: Array.from({ length: depth }, (_, level) => [key(name(level + 1))]),
      cycles: [],
    });
  });
});

describe("outdated", () => {
  it("lists every edge behind its base's current digest, skipping bases with no known digest", () => {
    const expected: OutdatedEntry[] = [
      { key: APP, base: ALPINE, baseDigest: "sha256:alpine-old", currentDigest: "sha256:alpine-new", edge: appOnAlpine },
      { key: COMPANY, base: ALPINE, baseDigest: "sha256:alpine-old", currentDigest: "sha256:alpine-new", edge: companyOnAlpine },
    ];
    expect(buildDependencyGraph(diamond, digests).outdated()).toEqual(expected);
  });

  it("lists each platform's edge", () => {
    const graph = buildDependencyGraph(diamond, new Map([[APP, "sha256:app-amd64"]]));
    expect(graph.outdated()).toEqual([
      { key: WORKER, base: APP, baseDigest: "sha256:app-arm64", currentDigest: "sha256:app-amd64", edge: workerOnAppArm },
    ]);
  });
});

describe("cycles and nodes", () => {
  const n = (name: string): Dependent => node(name);
  const edges = [
    edge(n("x:1"), key("y:1"), "sha256:y"),
    edge(n("y:1"), key("z:1"), "sha256:z"),
    edge(n("z:1"), key("x:1"), "sha256:x"),
    edge(n("w:1"), key("x:1"), "sha256:x"),
    edge(n("s:1"), key("s:1"), "sha256:s"),
    edge(n("b:1"), key("a:1"), "sha256:a"),
    edge(n("a:1"), key("b:1"), "sha256:b"),
    edge(n("a:1"), ALPINE, "sha256:alpine-old"),
  ];

  it.each([
    ["no loops", diamond, []],
    ["two loops and a self-loop, each sorted", edges, [[key("a:1"), key("b:1")], [key("s:1")], [key("x:1"), key("y:1"), key("z:1")]]],
  ])("%s", (_name, input, expected) => {
    expect(buildDependencyGraph(input, digests).cycles()).toEqual(expected);
  });

  it("lists every base and dependent once, sorted", () => {
    expect(buildDependencyGraph(diamond, digests).nodes()).toEqual([APP, COMPANY, WORKER, ALPINE, PIN]);
  });

  it("finds a loop 20,000 long without recursion", () => {
    const length = 20_000;
    const name = (index: number): string => `n${String(index).padStart(5, "0")}:1`;
    const loop = Array.from({ length }, (_, index) => edge(node(name(index)), key(name((index + 1) % length)), "sha256:x"));
    expect(buildDependencyGraph(loop, new Map()).cycles()).toEqual([Array.from({ length }, (_, index) => key(name(index)))]);
  });

  it("is empty for no edges", () => {
    const graph = buildDependencyGraph([], new Map());
    expect({ nodes: graph.nodes(), cycles: graph.cycles(), outdated: graph.outdated(), impact: graph.impact(ALPINE) }).toEqual({
      nodes: [],
      cycles: [],
      outdated: [],
      impact: { waves: [], cycles: [] },
    });
  });
});

describe("orderings", () => {
  const a = node("a:1");
  const b = key("b:1");
  const c = key("c:1");

  it("lists a dependent's edges to one base by platform (none first), strength of evidence, newest record, base digest, then detail", () => {
    const amdOld = edge(a, b, "sha256:b1", { evidence: "layer-prefix", platform: "linux/amd64", recordedAt: "2024-05-01T10:00:00Z" });
    const amdNew = edge(a, b, "sha256:b1", { evidence: "layer-prefix", platform: "linux/amd64", recordedAt: "2024-05-02T10:00:00Z" });
    const armAnnotation = edge(a, b, "sha256:b2", { evidence: "annotation", platform: "linux/arm64" });
    const armConfig = edge(a, b, "sha256:b2", { evidence: "config", platform: "linux/arm64" });
    const noneZ = edge(a, b, "sha256:z", { evidence: "dockerfile", detail: "line 1" });
    const noneY = edge(a, b, "sha256:y", { evidence: "dockerfile", detail: "line 9" });
    const noneYEarlierLine = edge(a, b, "sha256:y", { evidence: "dockerfile", detail: "line 2" });
    const graph = buildDependencyGraph([armConfig, amdOld, noneZ, armAnnotation, noneY, amdNew, noneYEarlierLine], new Map());
    expect(graph.impact(b)).toEqual({
      waves: [[{ key: key("a:1"), dependent: a, edges: [noneYEarlierLine, noneY, noneZ, amdNew, amdOld, armAnnotation, armConfig] }]],
      cycles: [],
    });
  });

  it("lists a dependent's edges to several impacted bases by base", () => {
    const onC = edge(a, c, "sha256:c");
    const onB = edge(a, b, "sha256:b");
    const cOnB = edge(node("c:1"), b, "sha256:b");
    expect(buildDependencyGraph([onC, cOnB, onB], new Map()).impact(b)).toEqual({
      waves: [[{ key: c, dependent: node("c:1"), edges: [cOnB] }], [{ key: key("a:1"), dependent: a, edges: [onB, onC] }]],
      cycles: [],
    });
  });

  it.each([
    ["equal evidence and time: the base that sorts first", [edge(a, c, "sha256:c"), edge(a, b, "sha256:b")], b],
    ["the same instant written two ways counts as equal: the base that sorts first", [edge(a, c, "sha256:c", { recordedAt: "2024-05-01T10:00:00Z" }), edge(a, b, "sha256:b", { recordedAt: "2024-05-01T10:00:00.000Z" })], b],
    ["unparsable record times compared as text", [edge(a, b, "sha256:b", { recordedAt: "not recorded" }), edge(a, c, "sha256:c", { recordedAt: "unrecorded" })], c],
    ["an unparsable record time and a parsable one compared as text", [edge(a, b, "sha256:b", { recordedAt: "2024-05-01T10:00:00Z" }), edge(a, c, "sha256:c", { recordedAt: "never" })], c],
    ["weaker evidence loses to stronger, whatever its time", [edge(a, b, "sha256:b", { evidence: "config", recordedAt: "2024-06-01T00:00:00Z" }), edge(a, c, "sha256:c", { evidence: "dockerfile" })], c],
  ])("follows %s in a lineage", (_, edges, base) => {
    expect(buildDependencyGraph(edges, new Map()).lineage(key("a:1")).steps.map((step) => step.base)).toEqual([base]);
  });

  it("prefers, among edges to one base, the platform-less one, and marks a step up to date only when the current digest is the one built on", () => {
    const withPlatform = edge(a, b, "sha256:b-amd", { platform: "linux/amd64" });
    const withoutPlatform = edge(a, b, "sha256:b", { platform: null });
    expect(
      [new Map([[b, "sha256:b"]]), new Map([[b, "sha256:b-amd"]])].map((current) => buildDependencyGraph([withPlatform, withoutPlatform], current).lineage(key("a:1")).steps[0]),
    ).toEqual([
      { key: key("a:1"), base: b, baseDigest: "sha256:b", currentDigest: "sha256:b", evidence: "annotation", detail: `annotation ${b}`, platform: null, upToDate: true },
      { key: key("a:1"), base: b, baseDigest: "sha256:b", currentDigest: "sha256:b-amd", evidence: "annotation", detail: `annotation ${b}`, platform: null, upToDate: false },
    ]);
  });

  it("lists outdated edges by dependent, base and platform", () => {
    const edges = [
      edge(node("z:1"), b, "sha256:old"),
      edge(a, c, "sha256:old"),
      edge(a, b, "sha256:old", { platform: "linux/arm64" }),
      edge(a, b, "sha256:old", { platform: "linux/amd64" }),
      edge(a, b, "sha256:new"),
    ];
    const current = new Map([
      [b, "sha256:new"],
      [c, "sha256:new"],
    ]);
    expect(buildDependencyGraph(edges, current).outdated().map((entry) => [entry.key, entry.base, entry.edge.platform])).toEqual([
      [key("a:1"), b, "linux/amd64"],
      [key("a:1"), b, "linux/arm64"],
      [key("a:1"), c, null],
      [key("z:1"), b, null],
    ]);
  });

  it("hands out copies: changing an answer changes no later one", () => {
    const loop = [edge(a, b, "sha256:b"), edge(node("b:1"), key("a:1"), "sha256:a"), edge(node("b:1"), c, "sha256:old")];
    const graph = buildDependencyGraph(loop, new Map([[c, "sha256:new"]]));
    const first = { nodes: graph.nodes(), cycles: graph.cycles(), outdated: graph.outdated() };
    first.nodes.pop();
    first.cycles[0]!.pop();
    first.cycles.pop();
    first.outdated.pop();
    expect({ nodes: graph.nodes(), cycles: graph.cycles(), outdated: graph.outdated().length }).toEqual({
      nodes: [key("a:1"), key("b:1"), c],
      cycles: [[key("a:1"), key("b:1")]],
      outdated: 1,
    });
  });
});

describe("walks that must not depend on the order of discovery", () => {
  const r = key("r:1");
  const on = (dependent: string, base: string): DependencyEdge => edge(node(dependent), key(base), `sha256:${base}`);

  it("puts a node after its deepest base even when a shallower base is walked after the deeper one", () => {
    // Walked from r: a, then b, c, d; d is reached last through its shallow base a.
    const edges = [on("a:1", "r:1"), on("b:1", "r:1"), on("c:1", "b:1"), on("d:1", "a:1"), on("d:1", "c:1")];
    expect(buildDependencyGraph(edges, new Map()).impact(r).waves.map((wave) => wave.map((member) => member.key))).toEqual([
      [key("a:1"), key("b:1")],
      [key("c:1")],
      [key("d:1")],
    ]);
  });

  it("orders each wave by key, not by when the walk finished it", () => {
    // z (under a) is finished before c (under b).
    const edges = [on("a:1", "r:1"), on("b:1", "r:1"), on("z:1", "a:1"), on("c:1", "b:1")];
    expect(buildDependencyGraph(edges, new Map()).impact(r).waves.map((wave) => wave.map((member) => member.key))).toEqual([
      [key("a:1"), key("b:1")],
      [key("c:1"), key("z:1")],
    ]);
  });

  it("orders loops by their first key, not by when the walk finished them", () => {
    // The loop x-y is built on the loop a-b, so the walk finishes it first.
    const edges = [on("a:1", "b:1"), on("b:1", "a:1"), on("x:1", "a:1"), on("x:1", "y:1"), on("y:1", "x:1")];
    const graph = buildDependencyGraph(edges, new Map());
    expect({ all: graph.cycles(), impact: graph.impact(key("a:1")).cycles }).toEqual({
      all: [[key("a:1"), key("b:1")], [key("x:1"), key("y:1")]],
      impact: [[key("a:1"), key("b:1")], [key("x:1"), key("y:1")]],
    });
  });

  it("finds one loop where a member closes it twice, the first time to the oldest member", () => {
    const edges = [on("b:1", "a:1"), on("c:1", "b:1"), on("a:1", "c:1"), on("b:1", "c:1")];
    expect(buildDependencyGraph(edges, new Map()).cycles()).toEqual([[key("a:1"), key("b:1"), key("c:1")]]);
  });

  it("reports a self-loop once when the walk reaches it before starting from it", () => {
    // The walk starts from a:1, reaches s:1 through it, then starts from s:1 and y:1 in turn.
    expect(buildDependencyGraph([on("s:1", "a:1"), on("s:1", "s:1"), on("z:1", "y:1")], new Map()).cycles()).toEqual([[key("s:1")]]);
  });

  it("reports no loop an impact query does not reach", () => {
    // a:1 sorts first and sits on itself, away from r:1.
    const edges = [on("a:1", "a:1"), on("y:1", "r:1")];
    expect(buildDependencyGraph(edges, new Map()).impact(r)).toEqual({ waves: [[{ key: key("y:1"), dependent: node("y:1"), edges: [edges[1]] }]], cycles: [] });
  });

  it("sorts a dependent's platform-less edges to one base by evidence, whatever their order", () => {
    const strong = edge(node("a:1"), r, "sha256:r", { evidence: "annotation" });
    const middle = edge(node("a:1"), r, "sha256:r", { evidence: "dockerfile" });
    const weak = edge(node("a:1"), r, "sha256:r", { evidence: "config" });
    expect([[weak, middle, strong], [middle, weak, strong], [strong, weak, middle]].map((edges) => buildDependencyGraph(edges, new Map()).impact(r).waves[0]![0]!.edges)).toEqual([
      [strong, middle, weak],
      [strong, middle, weak],
      [strong, middle, weak],
    ]);
  });

  it("hands out impact answers as copies", () => {
    const edges = [on("a:1", "r:1")];
    const graph = buildDependencyGraph(edges, new Map());
    (graph.impact(r).waves[0]![0]!.edges as DependencyEdge[]).pop();
    expect(graph.impact(r).waves[0]![0]!.edges).toEqual(edges);
  });
});
