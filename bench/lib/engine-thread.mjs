// A worker thread for the ceiling of bench/pool.ts: sonotile's `spectrogram()` (from dist/, as
// the pool's workers run it) over the whole signal, shared with the other threads, into an
// output allocated and first touched once — the engine's own work on a thread of its own,
// without the pool's file reads, copies and transfers. Posts "ready", then the seconds of one
// pass for each message it receives.
import { parentPort, workerData } from "node:worker_threads";
import { spectrogram } from "../../dist/index.js";

const { samples, samplerate, params } = workerData;
const x = new Float32Array(samples);
const output = spectrogram(x, samplerate, params).data;
parentPort.postMessage("ready");
parentPort.on("message", () => {
  const t = performance.now();
  spectrogram(x, samplerate, params, { output });
  parentPort.postMessage((performance.now() - t) / 1000);
});
