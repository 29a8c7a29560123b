// Plans live in WebAssembly and JavaScript holds them by integer handle. Keeping every live
// plan in a module-level array is also what keeps the garbage collector from freeing it.

export class Registry<T> {
  private items: Array<T | null> = new Array<T | null>();
  private freeSlots: Array<i32> = new Array<i32>();

  /** Stores `item`, returns its handle (≥ 1; 0 is never a valid handle). */
  add(item: T): i32 {
    if (this.freeSlots.length > 0) {
      const slot = this.freeSlots.pop();
      this.items[slot] = item;
      return slot + 1;
    }
    this.items.push(item);
    return this.items.length;
  }

  /** The item behind `handle`; aborts on a stale or invalid handle. */
  get(handle: i32): T {
    const slot = handle - 1;
    assert(slot >= 0 && slot < this.items.length, "invalid handle");
    const item = this.items[slot];
    assert(item !== null, "released handle");
    return item!;
  }

  /** Forgets `handle`; the slot is reused by a later `add`. */
  remove(handle: i32): void {
    this.get(handle);
    this.items[handle - 1] = null;
    this.freeSlots.push(handle - 1);
  }
}
