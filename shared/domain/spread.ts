/** 32-bit FNV-1a, for a stable spread of work over time (not for security). Pure. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * A stable offset in [0, rangeMs) taken from `key`: the same key always gets the same offset, and many
 * keys spread evenly over the range, so work for many keys started at once does not come due at once. Pure.
 */
export function stableOffsetMs(key: string, rangeMs: number): number {
  return fnv1a(key) % Math.max(1, Math.floor(rangeMs));
}
