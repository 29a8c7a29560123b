/** A map bounded by bytes (ByteCache): the tile, stats and MP3 frame index caches. */

/**
 * A map bounded by the bytes its values hold (`sizeOf`), least recently used evicted first; a value
 * over the limit is not kept at all, unless `keepsOneOver`: then the value last set of those over
 * the limit is kept beside the others, which keep the limit among themselves — so the map holds at
 * most the limit and that one value. Why not that value alone (as it was): any other one set
 * evicted it, so a viewer switching between it and stats within the limit (two recordings side by
 * side, or two parameter sets) read it again, hundreds of MB, at every switch. Two values over the
 * limit in turn still replace each other: holding both would be a bound of two such values.
 */
export class ByteCache<V> {
  private readonly entries = new Map<string, V>();
  private bytes = 0;
  /** keepsOneOver's value over the limit, not counted in `bytes`. */
  private over: { key: string; value: V } | undefined;
  constructor(private readonly limit: number, private readonly sizeOf: (value: V) => number, private readonly keepsOneOver = false) {}
  /** Whether `key` is held, without counting as a use. */
  has(key: string): boolean {
    return this.entries.has(key) || this.over?.key === key;
  }
  get(key: string): V | undefined {
    if (this.over?.key === key) return this.over.value;
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }
  set(key: string, value: V): void {
    const size = this.sizeOf(value);
    if (size > this.limit && !this.keepsOneOver) return;
    // A key set again (two computations of one tile that raced) replaces its bytes, not adds to them.
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= this.sizeOf(old);
    }
    if (this.over?.key === key) this.over = undefined;
    if (size > this.limit) {
      this.over = { key, value };
      return;
    }
    this.entries.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.limit) break;
      this.entries.delete(k);
      this.bytes -= this.sizeOf(v);
    }
  }
}
