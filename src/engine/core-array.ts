/** Buffers in the DSP core's memory, for the thin wrappers around its kernels. */
import { core } from "./wasm.js";

/** A float32 buffer in the core's memory; views are re-created on use because memory can grow. */
export class CoreArray {
  readonly ptr: number;
  constructor(readonly length: number) {
    this.ptr = core.alloc(Math.max(1, length) * 4);
  }
  static from(values: Float32Array): CoreArray {
    const a = new CoreArray(values.length);
    a.view().set(values);
    return a;
  }
  view(): Float32Array {
    return new Float32Array(core.memory.buffer, this.ptr, this.length);
  }
  free(): void {
    core.free(this.ptr);
  }
}
