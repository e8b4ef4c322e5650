/**
 * Queries over the base-digest dependency graph: what an image is built on (lineage), what is built on
 * a base (impact, in rebuild order), which edges lag their base's current digest, and where the graph
 * loops. Pure and synchronous; the graph is immutable once built.
 */
import { dependentKey, type DependencyEdge, type Dependent, type Evidence } from "./dependency.js";

/** One hop of a lineage: `key` is built on (or pins) `baseDigest` of the base tag `base`. */
export interface LineageStep {
  readonly key: string;
  readonly base: string;
  readonly baseDigest: string;
  /** The base tag's current digest, or null when Ripple has not seen the tag. */
  readonly currentDigest: string | null;
  readonly evidence: Evidence;
  readonly detail: string;
  readonly platform: string | null;
  /** True only when the current digest is known and equals `baseDigest`. */
  readonly upToDate: boolean;
}

export interface Lineage {
  /** Nearest base first. */
  readonly steps: LineageStep[];
  /** The keys of the loop the walk ran into, in walk order from the node it re-entered; null when it ended at a root. */
  readonly cycle: string[] | null;
}

/** A dependent reached by an impact query, with every edge from it to a base in the impacted set (or the queried base). */
export interface ImpactNode {
  readonly key: string;
  /** As recorded on the first of `edges`. */
  readonly dependent: Dependent;
  /** Sorted by base, platform, strength of evidence, newest first. */
  readonly edges: readonly DependencyEdge[];
}

export interface Impact {
  /** Rebuild order: wave 0 holds the direct dependents, each later wave only what its bases in earlier waves unlock. */
  readonly waves: ImpactNode[][];
  /** Loops among the impacted nodes: each one's member keys, sorted. Their members appear in no wave. */
  readonly cycles: string[][];
}

/** An edge whose dependent is built on (or pins) a digest its base tag no longer points at. */
export interface OutdatedEntry {
  readonly key: string;
  readonly base: string;
  readonly baseDigest: string;
  readonly currentDigest: string;
  readonly edge: DependencyEdge;
}

export interface DependencyGraph {
  /**
   * The chain of bases of `key`, nearest first. Where a node has several bases it follows the strongest
   * evidence (annotation > layer-prefix > dockerfile > config), then the newest `recordedAt`, then the base
   * key that sorts first. Stops when the walk re-enters a node and reports that loop. An unknown key has
   * an empty lineage. Never throws.
   */
  lineage(key: string): Lineage;
  /**
   * Everything transitively built on base tag `key`, in topological waves: wave n holds the nodes whose
   * bases inside the impacted set are all in earlier waves, so a node on two impacted levels goes after
   * both. Members of a loop are reported in `cycles` and left out of the waves; a node built on a loop
   * member still comes after the loop's level, and waves the loop leaves empty are dropped. An unknown key
   * or a key nothing is built on gives no waves. Iterative; costs O(impacted nodes + their edges).
   */
  impact(key: string): Impact;
  /** Every edge whose `baseDigest` differs from its base's current digest, when the base has one; sorted by key, base, platform. */
  outdated(): OutdatedEntry[];
  /** Every loop in the graph (strongly connected components of more than one node, or a node on itself), each sorted. */
  cycles(): string[][];
  /** Every dependent and base key named by an edge, sorted. */
  nodes(): string[];
}

const EVIDENCE_STRENGTH = { annotation: 0, "layer-prefix": 1, dockerfile: 2, config: 3, pin: 4 } as const satisfies Record<Evidence, number>;

/**
 * Indexes `edges` once (node keys interned to integers in sorted order, adjacency in flat typed arrays)
 * so that every query is a walk over arrays. Keys are compared by UTF-16 code units, never by locale.
 * `currentDigests` maps a tag key to the digest the tag points at now.
 */
export function buildDependencyGraph(edges: readonly DependencyEdge[], currentDigests: ReadonlyMap<string, string>): DependencyGraph {
  const dependentKeys = edges.map((edge) => dependentKey(edge.dependent));
  const keySet = new Set<string>(dependentKeys);
  for (const edge of edges) keySet.add(edge.base);
  const keys = [...keySet].sort(compareText);
  const idOf = new Map<string, number>();
  keys.forEach((key, id) => idOf.set(key, id));
  const nodeCount = keys.length;

  const dependentIds = Int32Array.from(dependentKeys, (key) => idOf.get(key) as number);
  const baseIds = Int32Array.from(edges, (edge) => idOf.get(edge.base) as number);
  const order = Array.from(edges.keys()).sort(
    (a, b) => dependentIds[a]! - dependentIds[b]! || baseIds[a]! - baseIds[b]! || compareEdges(edges[a]!, edges[b]!),
  );

  // A group is every edge from one dependent to one base (per platform, per kind of evidence).
  const groupEdges: DependencyEdge[][] = [];
  const groupBase: number[] = [];
  const outStart = new Int32Array(nodeCount + 1);
  const selfLoop = new Uint8Array(nodeCount);
  let previousDependent = -1;
  let previousBase = -1;
  for (const index of order) {
    const dependent = dependentIds[index]!;
    const base = baseIds[index]!;
    if (dependent !== previousDependent || base !== previousBase) {
      groupEdges.push([]);
      groupBase.push(base);
      outStart[dependent + 1]! += 1;
      if (dependent === base) selfLoop[dependent] = 1;
      previousDependent = dependent;
      previousBase = base;
    }
    groupEdges[groupEdges.length - 1]!.push(edges[index]!);
  }
  for (let node = 0; node < nodeCount; node += 1) outStart[node + 1]! += outStart[node]!;
  const groupCount = groupBase.length;
  const outBase = Int32Array.from(groupBase);

  // Reverse adjacency (base -> dependents); a counting sort keeps each base's dependents in key order.
  const inStart = new Int32Array(nodeCount + 1);
  for (let group = 0; group < groupCount; group += 1) inStart[outBase[group]! + 1]! += 1;
  for (let node = 0; node < nodeCount; node += 1) inStart[node + 1]! += inStart[node]!;
  const inDependent = new Int32Array(groupCount);
  const fill = inStart.slice(0, nodeCount);
  for (let dependent = 0; dependent < nodeCount; dependent += 1) {
    for (let group = outStart[dependent]!; group < outStart[dependent + 1]!; group += 1) {
      inDependent[fill[outBase[group]!]!++] = dependent;
    }
  }

  const tarjan = createTarjan(nodeCount, inStart, inDependent);
  let allCycles: string[][] | null = null;
  let allOutdated: OutdatedEntry[] | null = null;

  const isCycle = (members: Int32Array, starts: readonly number[], component: number): boolean =>
    starts[component + 1]! - starts[component]! > 1 || selfLoop[members[starts[component]!]!] === 1;

  /** The loops among a run's components, each as sorted keys, ordered by their first key. */
  function listCycles(count: number, starts: readonly number[], members: Int32Array): string[][] {
    const found: string[][] = [];
    for (let component = 0; component < count; component += 1) {
      if (isCycle(members, starts, component)) {
        found.push(Array.from(members.slice(starts[component], starts[component + 1]).sort(), (id) => keys[id]!));
      }
    }
    return found.sort((a, b) => compareText(a[0]!, b[0]!));
  }

  function lineage(key: string): Lineage {
    let node = idOf.get(key);
    const steps: LineageStep[] = [];
    if (node === undefined) return { steps, cycle: null };
    const path = [node];
    const position = new Map<number, number>([[node, 0]]);
    for (;;) {
      let chosen: DependencyEdge | null = null;
      let chosenBase = -1;
      for (let group = outStart[node]!; group < outStart[node + 1]!; group += 1) {
        for (const edge of groupEdges[group]!) {
          if (chosen === null || compareLineagePreference(edge, chosen) < 0) {
            chosen = edge;
            chosenBase = outBase[group]!;
          }
        }
      }
      if (chosen === null) return { steps, cycle: null };
      const currentDigest = currentDigests.get(chosen.base) ?? null;
      steps.push({
        key: keys[node]!,
        base: chosen.base,
        baseDigest: chosen.baseDigest,
        currentDigest,
        evidence: chosen.evidence,
        detail: chosen.detail,
        platform: chosen.platform,
        upToDate: currentDigest !== null && currentDigest === chosen.baseDigest,
      });
      const seenAt = position.get(chosenBase);
      if (seenAt !== undefined) return { steps, cycle: path.slice(seenAt).map((id) => keys[id]!) };
      position.set(chosenBase, path.length);
      path.push(chosenBase);
      node = chosenBase;
    }
  }

  function impact(key: string): Impact {
    const root = idOf.get(key);
    if (root === undefined) return { waves: [], cycles: [] };
    const { count, starts, members, componentOf, reached } = tarjan.run([root]);
    // Tarjan finishes a component after everything built on it, so the last one is the root's and
    // walking backwards visits every component after all of its bases.
    const level = new Int32Array(count).fill(-1);
    let deepest = -1;
    for (let component = count - 1; component >= 0; component -= 1) {
      const next = level[component]! + 1;
      for (let member = starts[component]!; member < starts[component + 1]!; member += 1) {
        const node = members[member]!;
        for (let slot = inStart[node]!; slot < inStart[node + 1]!; slot += 1) {
          const target = componentOf[inDependent[slot]!]!;
          if (target !== component && level[target]! < next) level[target] = next;
        }
      }
      if (next > deepest) deepest = next;
    }
    const waveIds: number[][] = Array.from({ length: deepest }, () => []);
    for (let component = 0; component < count - 1; component += 1) {
      if (!isCycle(members, starts, component)) waveIds[level[component]!]!.push(members[starts[component]!]!);
    }
    // Plain loops: Array.from over a typed array with a mapper costs more than the whole traversal.
    const waves: ImpactNode[][] = [];
    for (const wave of waveIds) {
      if (wave.length === 0) continue;
      const sorted = new Int32Array(wave).sort();
      const nodes = new Array<ImpactNode>(sorted.length);
      for (let position = 0; position < sorted.length; position += 1) nodes[position] = toImpactNode(sorted[position]!, reached);
      waves.push(nodes);
    }
    return { waves, cycles: listCycles(count, starts, members) };
  }

  function toImpactNode(node: number, reached: (node: number) => boolean): ImpactNode {
    let nodeEdges: DependencyEdge[] = [];
    for (let group = outStart[node]!; group < outStart[node + 1]!; group += 1) {
      if (reached(outBase[group]!)) nodeEdges = nodeEdges.length === 0 ? groupEdges[group]!.slice() : nodeEdges.concat(groupEdges[group]!);
    }
    // Never empty: the query reached this node through one of its own edges.
    return { key: keys[node]!, dependent: nodeEdges[0]!.dependent, edges: nodeEdges };
  }

  function outdated(): OutdatedEntry[] {
    allOutdated ??= order.flatMap((index) => {
      const edge = edges[index]!;
      const currentDigest = currentDigests.get(edge.base);
      if (currentDigest === undefined || currentDigest === edge.baseDigest) return [];
      return [{ key: dependentKeys[index]!, base: edge.base, baseDigest: edge.baseDigest, currentDigest, edge }];
    });
    return allOutdated.slice();
  }

  function cycles(): string[][] {
    if (allCycles === null) {
      const { count, starts, members } = tarjan.run(keys.keys());
      allCycles = listCycles(count, starts, members);
    }
    return allCycles.map((cycle) => cycle.slice());
  }

  return { lineage, impact, outdated, cycles, nodes: () => keys.slice() };
}

/**
 * Strongly connected components, numbered in the order Tarjan finishes them: a component only after
 * every component reachable from it. Component c is `members[starts[c]]` up to `members[starts[c + 1]]`.
 */
interface TarjanRun {
  readonly count: number;
  readonly starts: readonly number[];
  readonly members: Int32Array;
  /** The component of each reached node. */
  readonly componentOf: Int32Array;
  readonly reached: (node: number) => boolean;
}

/**
 * Iterative Tarjan over a graph in compressed-sparse-row form. Its scratch arrays are allocated once
 * and stamped per run, so a run costs only what it reaches. A run is valid until the next one starts.
 */
function createTarjan(nodeCount: number, start: Int32Array, targets: Int32Array): { run(roots: Iterable<number>): TarjanRun } {
  const stamp = new Uint32Array(nodeCount);
  const order = new Int32Array(nodeCount);
  const low = new Int32Array(nodeCount);
  const cursor = new Int32Array(nodeCount);
  const componentOf = new Int32Array(nodeCount);
  const onStack = new Uint8Array(nodeCount);
  const stack = new Int32Array(nodeCount);
  const calls = new Int32Array(nodeCount);
  const members = new Int32Array(nodeCount);
  let generation = 0;

  function run(roots: Iterable<number>): TarjanRun {
    generation += 1;
    const current = generation;
    const starts = [0];
    let counter = 0;
    let stackTop = 0;
    let callTop = 0;
    const enter = (node: number): void => {
      stamp[node] = current;
      order[node] = counter;
      low[node] = counter;
      counter += 1;
      cursor[node] = start[node]!;
      stack[stackTop++] = node;
      onStack[node] = 1;
      calls[callTop++] = node;
    };
    for (const root of roots) {
      if (stamp[root] === current) continue;
      enter(root);
      while (callTop > 0) {
        const node = calls[callTop - 1]!;
        if (cursor[node]! < start[node + 1]!) {
          const next = targets[cursor[node]!++]!;
          if (stamp[next] !== current) enter(next);
          else if (onStack[next] === 1 && order[next]! < low[node]!) low[node] = order[next]!;
          continue;
        }
        callTop -= 1;
        if (callTop > 0) {
          const caller = calls[callTop - 1]!;
          if (low[node]! < low[caller]!) low[caller] = low[node]!;
        }
        if (low[node] === order[node]) {
          let bottom = stackTop - 1;
          while (stack[bottom] !== node) bottom -= 1;
          const component = starts.length - 1;
          let end = starts[component]!;
          for (let slot = bottom; slot < stackTop; slot += 1) {
            const member = stack[slot]!;
            onStack[member] = 0;
            componentOf[member] = component;
            members[end++] = member;
          }
          starts.push(end);
          stackTop = bottom;
        }
      }
    }
    return { count: starts.length - 1, starts, members, componentOf, reached: (node) => stamp[node] === current };
  }

  return { run };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePlatforms(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return compareText(a, b);
}

/** Within one dependent and base: platform, strength of evidence, newest first, then the rest of the text. */
function compareEdges(a: DependencyEdge, b: DependencyEdge): number {
  return (
    comparePlatforms(a.platform, b.platform) ||
    EVIDENCE_STRENGTH[a.evidence] - EVIDENCE_STRENGTH[b.evidence] ||
    compareText(b.recordedAt, a.recordedAt) ||
    compareText(a.baseDigest, b.baseDigest) ||
    compareText(a.detail, b.detail)
  );
}

function compareLineagePreference(a: DependencyEdge, b: DependencyEdge): number {
  return (
    EVIDENCE_STRENGTH[a.evidence] - EVIDENCE_STRENGTH[b.evidence] ||
    compareTimes(b.recordedAt, a.recordedAt) ||
    compareText(a.base, b.base) ||
    compareEdges(a, b)
  );
}

/** ISO 8601 by instant (so `…:00Z` and `…:00.000Z` are equal), falling back to text for anything unparsable. */
function compareTimes(a: string, b: string): number {
  const timeA = Date.parse(a);
  const timeB = Date.parse(b);
  if (Number.isNaN(timeA) || Number.isNaN(timeB)) return compareText(a, b);
  return timeA - timeB;
}
