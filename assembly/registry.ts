// Plans live in WebAssembly and JavaScript holds them by integer handle. Keeping every live
// plan in a module-level array is also what keeps the garbage collector from freeing it.
//
// The core runs AssemblyScript's minimal runtime (asconfig.json): its collector never runs by
// itself, and in exchange no function keeps a shadow stack of its managed locals (without that
// bookkeeping a 256-point FFT runs 1.10× as fast, a 1024-point one 1.03×). Managed objects are
// made only when plans are created and released, so the registry collects right after both, from
// the exported create/destroy functions, when every live object is reachable from a registry (a
// global) and nothing managed is held on the stack: `add` and `remove` must be those exports'
// last step.

export class Registry<T> {
  private items: Array<T | null> = new Array<T | null>();
  private freeSlots: Array<i32> = new Array<i32>();

  /** Stores `item`, returns its handle (≥ 1; 0 is never a valid handle). */
  add(item: T): i32 {
    let handle: i32;
    if (this.freeSlots.length > 0) {
      const slot = this.freeSlots.pop();
      this.items[slot] = item;
      handle = slot + 1;
    } else {
      this.items.push(item);
      handle = this.items.length;
    }
    // The plan's construction garbage (factorisation lists, a grown array's old storage).
    __collect();
    return handle;
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
    __collect();
  }
}
