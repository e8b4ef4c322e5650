/**
 * Layer-prefix matching: an image built `FROM` a base starts with the base's layers, so the longest known
 * base chain that is a proper prefix of an image's layers names its nearest base.
 */

/** One platform of one tag (any tag that could be a base of something), with its layer chain. */
export interface LayerChainEntry {
  /** The base tag key, `registry/repository:tag`. */
  readonly base: string;
  /** The base manifest digest (the per-platform manifest, not the index). */
  readonly digest: string;
  readonly platform: string | null;
  /** `rootfs.diff_ids` preferably (stable across recompression), else the layer blob digests; in order. */
  readonly layers: readonly string[];
}

export interface LayerMatchOptions {
  /** A manifest digest never to match: the image's own, when the image is itself indexed as a base. */
  readonly exclude?: string;
  /**
   * A base tag key never to match: the image's own tag, whose earlier digests may be indexed too. Entries
   * of that tag are skipped, so a shorter chain of another tag can still match.
   */
  readonly excludeBase?: string;
}

export interface LayerMatch {
  readonly entry: LayerChainEntry;
  readonly sharedLayers: number;
}

export interface LayerMatchAll {
  /** Sorted by base, platform (null first), digest. */
  readonly entries: LayerChainEntry[];
  readonly sharedLayers: number;
}

export interface LayerIndex {
  /** Indexes a base chain. Idempotent: re-adding the same (base, digest, platform) keeps the first entry. */
  add(entry: LayerChainEntry): void;
  /**
   * The longest indexed chain that is a proper prefix of `layers` (shorter than `layers`) on a compatible
   * platform (a null platform on either side matches any), or null. Among entries with that same chain,
   * the one whose base sorts first. Costs O(layers.length) hash lookups, whatever the number of bases.
   */
  match(layers: readonly string[], platform: string | null, options?: LayerMatchOptions): LayerMatch | null;
  /** As {@link LayerIndex.match}, but every compatible entry with that longest chain (several tags of one digest). */
  matchAll(layers: readonly string[], platform: string | null, options?: LayerMatchOptions): LayerMatchAll | null;
  /** The number of distinct (base, digest, platform) entries added. */
  size(): number;
}

// A chain (prefix) is identified by a small integer: chain(n + 1) = link(chain(n), id of layer n + 1), so
// no digest text is ever concatenated. Chain 0 is the empty prefix.
const EMPTY_CHAIN = 0;

interface LinkTable {
  /** The chain extending `chain` by `layer`, or 0 when there is none. */
  get(chain: number, layer: number): number;
  set(chain: number, layer: number, next: number): void;
}

/**
 * An open-addressing hash table from (chain, layer) to the next chain, in typed arrays: a Map keyed by a
 * packed double spends most of its time boxing keys and collecting them.
 */
function createLinkTable(): LinkTable {
  let capacity = 1024;
  let count = 0;
  let chains = new Int32Array(capacity);
  let layers = new Int32Array(capacity);
  let nexts = new Int32Array(capacity);

  const slotOf = (chain: number, layer: number, mask: number): number => ((Math.imul(chain, 0x9e3779b1) ^ Math.imul(layer + 1, 0x85ebca6b)) >>> 0) & mask;

  function get(chain: number, layer: number): number {
    const mask = capacity - 1;
    for (let slot = slotOf(chain, layer, mask); nexts[slot] !== 0; slot = (slot + 1) & mask) {
      if (chains[slot] === chain && layers[slot] === layer) return nexts[slot]!;
    }
    return 0;
  }

  function insert(chain: number, layer: number, next: number): void {
    const mask = capacity - 1;
    let slot = slotOf(chain, layer, mask);
    while (nexts[slot] !== 0) slot = (slot + 1) & mask;
    chains[slot] = chain;
    layers[slot] = layer;
    nexts[slot] = next;
  }

  function set(chain: number, layer: number, next: number): void {
    if ((count + 1) * 2 > capacity) {
      const old = { chains, layers, nexts };
      capacity *= 2;
      chains = new Int32Array(capacity);
      layers = new Int32Array(capacity);
      nexts = new Int32Array(capacity);
      for (let slot = 0; slot < old.nexts.length; slot += 1) {
        if (old.nexts[slot] !== 0) insert(old.chains[slot]!, old.layers[slot]!, old.nexts[slot]!);
      }
    }
    insert(chain, layer, next);
    count += 1;
  }

  return { get, set };
}

/**
 * An in-memory index of base layer chains. Entries are kept by reference and returned as given.
 * Entries with no layers are counted but never match.
 */
export function createLayerIndex(entries: Iterable<LayerChainEntry> = []): LayerIndex {
  const layerIds = new Map<string, number>();
  const links = createLinkTable();
  const entriesByChain = new Map<number, LayerChainEntry[]>();
  const known = new Set<string>();
  let chainCount = 1;

  function internLayer(layer: string): number {
    let id = layerIds.get(layer);
    if (id === undefined) {
      id = layerIds.size;
      layerIds.set(layer, id);
    }
    return id;
  }

  function add(entry: LayerChainEntry): void {
    const identity = `${entry.base}\n${entry.digest}\n${entry.platform === null ? "\u0000" : entry.platform}`;
    if (known.has(identity)) return;
    known.add(identity);
    if (entry.layers.length === 0) return;
    let chain = EMPTY_CHAIN;
    for (const layer of entry.layers) {
      const layerId = internLayer(layer);
      let next = links.get(chain, layerId);
      if (next === EMPTY_CHAIN) {
        next = chainCount;
        chainCount += 1;
        links.set(chain, layerId, next);
      }
      chain = next;
    }
    const atChain = entriesByChain.get(chain);
    if (atChain === undefined) {
      entriesByChain.set(chain, [entry]);
      return;
    }
    const at = atChain.findIndex((other) => compareEntries(entry, other) < 0);
    atChain.splice(at < 0 ? atChain.length : at, 0, entry);
  }

  /** The entries at the longest matching proper prefix, and its length; the caller filters again. */
  function findLongest(layers: readonly string[], accepts: (entry: LayerChainEntry) => boolean): { atChain: LayerChainEntry[]; sharedLayers: number } | null {
    let found: { atChain: LayerChainEntry[]; sharedLayers: number } | null = null;
    let chain = EMPTY_CHAIN;
    // Every prefix of an indexed chain is itself linked, so the first unknown link ends the search.
    for (let shared = 1; shared < layers.length; shared += 1) {
      const layerId = layerIds.get(layers[shared - 1]!);
      if (layerId === undefined) break;
      const next = links.get(chain, layerId);
      if (next === EMPTY_CHAIN) break;
      chain = next;
      const atChain = entriesByChain.get(chain);
      if (atChain !== undefined && atChain.some(accepts)) found = { atChain, sharedLayers: shared };
    }
    return found;
  }

  function match(layers: readonly string[], platform: string | null, options: LayerMatchOptions = {}): LayerMatch | null {
    const accepts = acceptor(platform, options);
    const found = findLongest(layers, accepts);
    if (found === null) return null;
    return { entry: found.atChain.find(accepts)!, sharedLayers: found.sharedLayers };
  }

  function matchAll(layers: readonly string[], platform: string | null, options: LayerMatchOptions = {}): LayerMatchAll | null {
    const accepts = acceptor(platform, options);
    const found = findLongest(layers, accepts);
    if (found === null) return null;
    return { entries: found.atChain.filter(accepts), sharedLayers: found.sharedLayers };
  }

  for (const entry of entries) add(entry);
  return { add, match, matchAll, size: () => known.size };
}

/** Whether an entry may match an image of `platform`, under the options' exclusions. */
function acceptor(platform: string | null, options: LayerMatchOptions): (entry: LayerChainEntry) => boolean {
  return (entry) =>
    (platform === null || entry.platform === null || entry.platform === platform) &&
    (options.exclude === undefined || entry.digest !== options.exclude) &&
    (options.excludeBase === undefined || entry.base !== options.excludeBase);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEntries(a: LayerChainEntry, b: LayerChainEntry): number {
  if (a.base !== b.base) return compareText(a.base, b.base);
  if (a.platform !== b.platform) return a.platform === null ? -1 : b.platform === null ? 1 : compareText(a.platform, b.platform);
  return compareText(a.digest, b.digest);
}
