// A worker thread for the ceilings of bench/pool.ts, one kind of work per thread (workerData.kind):
// - "spectrogram": sonotile's `spectrogram()` (from dist/, as the pool's workers run it) over the
//   whole signal, shared with the other threads, into an output allocated and first touched once —
//   the engine's own work on a thread of its own, without the pool's file reads, copies, transfers;
// - "fft": 100 000 real FFTs of n = 1024 on buffers that stay in L1 — arithmetic only;
// - "copy": the signal copied twice between two arrays of its size, touched once — memory only.
// Posts "ready", then the seconds of one pass for each message it receives.
import { parentPort, workerData } from "node:worker_threads";
import { RealFFT, spectrogram } from "../../dist/index.js";

const { kind, samples, samplerate, params } = workerData;
const x = new Float32Array(samples);

function work() {
  if (kind === "spectrogram") {
    const output = spectrogram(x, samplerate, params).data;
    return () => spectrogram(x, samplerate, params, { output });
  }
  if (kind === "fft") {
    const fft = new RealFFT(1024);
    const input = x.slice(0, 1024), output = new Float32Array(2 * fft.bins);
    return () => { for (let i = 0; i < 100_000; i++) fft.forward(input, output); };
  }
  const a = x.slice(), b = x.slice();
  return () => { b.set(a); a.set(b); };
}

const pass = work();
pass();
parentPort.postMessage("ready");
parentPort.on("message", () => {
  const t = performance.now();
  pass();
  parentPort.postMessage((performance.now() - t) / 1000);
});
