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

/** A fresh instance of the core (own memory); used by worker threads. */
function instantiateCore(module: WebAssembly.Module = wasmModule): Promise<Core> {
  return instantiate(module, { env: {} });
}

/** The instance used by the calling thread's synchronous library API. */
export const core: Core = await instantiateCore();
