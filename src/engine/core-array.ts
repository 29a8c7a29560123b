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

/**
 * Tile pooling in the core (assembly/tile.ts): out[r][c] is the maximum of `values`
 * ([bins][frames]) over bins [binEdges[r], binEdges[r+1]) and frames [c·factor, (c+1)·factor).
 */
export function poolMax(values: Float32Array, frames: number, binEdges: Int32Array, factor: number): Float32Array {
  const rows = binEdges.length - 1;
  const columns = Math.ceil(frames / factor);
  const input = CoreArray.from(values);
  const edges = core.alloc(binEdges.byteLength);
  new Int32Array(core.memory.buffer, edges, binEdges.length).set(binEdges);
  const output = new CoreArray(rows * columns);
  core.poolMax(input.ptr, frames, edges, rows, factor, output.ptr);
  const result = output.view().slice();
  input.free();
  output.free();
  core.free(edges);
  return result;
}
