/**
 * Loads the DSP core. The module is compiled once per process (workers receive the compiled
 * `WebAssembly.Module` instead of recompiling) and instantiated through asc's generated raw
 * bindings (`build/sonotile.js`), the maintained path on asc 0.28.
 */
import { readFileSync } from "node:fs";
import { isMainThread, workerData } from "node:worker_threads";
import { instantiate } from "../../build/sonotile.js";

export type Core = Awaited<ReturnType<typeof instantiate>>;

/** Location of the compiled core, next to its bindings. */
const WASM_URL = new URL("../../build/sonotile.wasm", import.meta.url);

/**
 * The compiled module: compiled once in the main thread and handed to worker threads as
 * `workerData.wasmModule`, so a pool of workers does not compile it again per thread.
 */
export const wasmModule: WebAssembly.Module =
  !isMainThread && workerData?.wasmModule instanceof WebAssembly.Module
    ? workerData.wasmModule
    : new WebAssembly.Module(readFileSync(WASM_URL));

/** wasm32's limit on a memory: 65536 pages of 64 KiB. */
export const WASM32_MEMORY_MAX = 2 ** 32;

/**
 * The core could not allocate: its memory could not grow (at wasm32's limit, or the host refused
 * it pages) or the block is over the allocator's largest (CORE_MAX_BLOCK). The core stays usable;
 * freeing plans makes room again.
 */
export class CoreMemoryError extends RangeError {
  override name = "CoreMemoryError";

  /**
   * @param memoryFull the core's memory could not grow (at wasm32's limit, or the host refused the
   *   pages): what the core holds is in the way, and freeing it makes room. False: a block over the
   *   allocator's largest, which no core gives.
   */
  constructor(message: string, readonly memoryFull = false) {
    super(message);
  }
}

/**
 * The allocator's largest block in bytes (TLSF's BLOCK_MAXSIZE on wasm32: 1 GiB less its 4-byte
 * header): a larger one is refused outright, however much room the core has.
 */
export const CORE_MAX_BLOCK = 2 ** 30 - 4;

/**
 * The CoreMemoryError of an allocation of `what` that failed with `err`, or null when `err` is no allocation failure. The allocator
 * (TLSF, assembly/memory.ts) traps with a bare `unreachable` when `memory.grow` fails — every other
 * failure in the core calls `abort` first, which throws an Error with a message — and refuses a
 * block over its maximum through `abort` with "Allocation too large".
 */
function allocationFailure(err: unknown, what: string, memory: WebAssembly.Memory): CoreMemoryError | null {
  if (err instanceof WebAssembly.RuntimeError && err.message === "unreachable") {
    return new CoreMemoryError(`out of WebAssembly memory: ${what} did not fit (the DSP core's memory holds ${mb(memory.buffer.byteLength)} MB, at most ${mb(WASM32_MEMORY_MAX)} MB) — dispose() plans (RealFFT) no longer needed`, true);
  }
  if (err instanceof Error && err.message.startsWith("Allocation too large")) return overLargestBlock(what);
  return null;
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** The CoreMemoryError of a block of `what` over the allocator's largest (CORE_MAX_BLOCK). */
function overLargestBlock(what: string): CoreMemoryError {
  return new CoreMemoryError(`${what} is over the DSP core's largest block, ${mb(CORE_MAX_BLOCK)} MB: ask for less at once`);
}

/**
 * The core's `alloc`, refusing in JavaScript a size its i32 argument cannot carry: 2^32 bytes or
 * more wrapped modulo 2^32 (4.4e9 bytes became a block of 105 MB, which the caller then wrote 4.4 GB
 * into: every later call of the core trapped until the process ended). A size over the largest
 * block is refused as the allocator refuses it; one that is not a whole number of bytes ≥ 0 is
 * the caller's mistake (a RangeError).
 */
function checkedAlloc(alloc: Core["alloc"]): Core["alloc"] {
  return (bytes) => {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`a block of the DSP core must be a whole number of bytes >= 0, got ${bytes}`);
    if (bytes > CORE_MAX_BLOCK) throw overLargestBlock(`${bytes} bytes`);
    return alloc(bytes);
  };
}

/**
 * The instance with its allocating exports turning an allocation failure into a CoreMemoryError
 * naming what was asked for, instead of a trap. Those exports run once per plan or buffer, or, the
 * two kernels with scratch of their own, once per chunk of 2^17 values or per block of samples
 * (pcenColumns, sampleSums), so the wrapper costs nothing measurable; the other kernels are called
 * directly.
 */
function reportingOutOfMemory(instance: Core): Core {
  const { alloc, fftCreate, stftCreate, featurePlanCreate, pcenColumns, sampleSums } = instance;
  const allocating = <A extends unknown[], R>(what: (...args: A) => string, create: (...args: A) => R) => (...args: A): R => {
    try {
      return create(...args);
    } catch (err) {
      throw allocationFailure(err, what(...args), instance.memory) ?? err;
    }
  };
  const wrapped: Pick<Core, "alloc" | "fftCreate" | "stftCreate" | "featurePlanCreate" | "pcenColumns" | "sampleSums"> = {
    alloc: allocating((bytes) => `${bytes} bytes`, checkedAlloc(alloc)),
    fftCreate: allocating((n) => `the tables of an FFT plan for n=${n}`, fftCreate),
    stftCreate: allocating((n) => `the tables of an STFT plan for n=${n}`, stftCreate),
    featurePlanCreate: allocating((bins) => `a feature plan for ${bins} bins`, featurePlanCreate),
    // assembly/pcen.ts: the smoother's values of eight bins' rows; it allocates before it writes anything.
    pcenColumns: allocating((_block, frames) => `the scratch of PCEN over ${frames} frames (${frames * 32} bytes)`, pcenColumns),
    // assembly/features.ts crossingTable: kept for the next call with the same hop; allocated before the sums are added.
    sampleSums: allocating((_samples, _n, _first, _prev, _half, _frameLength, hop) => `the zero-crossing table of a ${hop}-sample hop (${hop * 4} bytes)`, sampleSums),
  };
  return Object.setPrototypeOf(wrapped, instance) as Core;
}

/** A fresh instance of the core (own memory); used by worker threads. */
async function instantiateCore(module: WebAssembly.Module = wasmModule): Promise<Core> {
  return reportingOutOfMemory(await instantiate(module, { env: {} }));
}

/** The instance used by the calling thread's synchronous library API. */
export const core: Core = await instantiateCore();
