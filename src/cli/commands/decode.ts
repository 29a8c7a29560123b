/**
 * `sonotile decode <audio> -o out.{npy,wav} [--time-expansion X]` (SPEC §8): the float32 samples
 * of a recording, shape [frames, channels] as `soundfile.read(path, dtype="float32")` returns them.
 * `.wav` is 32-bit IEEE float (RF64 above 4 GiB), streamed in pieces; `.npy` is built in memory
 * (encodeNpy), so it needs about 3 × frames·channels·4 bytes of RAM. With a time expansion factor the WAV
 * header carries the expanded (real-world) rate, rounded to an integer.
 */
import { open, rm, writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { applyTimeExpansion, decode, openAudio, type AudioReader } from "../../audio/index.js";
import { floatWavHeader } from "../../audio/wavwriter.js";
import { encodeNpy } from "../../render/npy.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { readCommandLine, type OptionSpec } from "../flags.js";
import { optionRows, timeExpansionOption } from "./info.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output: .npy (NumPy float32 [frames, channels]) or .wav (32-bit float)" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor (SPEC §3.2): the .wav rate becomes file rate × X; default 1" },
  { name: "verbose", boolean: true, doc: "stack traces on errors" },
];

const USAGE = `usage: sonotile decode <audio> -o out.{npy,wav} [options]

Decodes a recording to float32 samples [frames, channels].

${optionRows(OPTIONS)}`;

/** Frames converted per piece when streaming a WAV: bounds memory at PIECE·channels·8 bytes. */
const PIECE = 1 << 18;

/** Interleaves frames [start, start+count) of every channel into one float32 array. */
async function interleaved(reader: AudioReader, start: number, count: number): Promise<Float32Array> {
  const { channels } = reader.info;
  const out = new Float32Array(count * channels);
  for (let c = 0; c < channels; c++) {
    const x = await reader.read(c, start, count);
    for (let i = 0; i < x.length; i++) out[i * channels + c] = x[i];
  }
  return out;
}

async function writeWav(reader: AudioReader, path: string, samplerate: number): Promise<void> {
  const { frames, channels } = reader.info;
  const fh = await open(path, "w");
  try {
    await fh.write(floatWavHeader(frames, channels, samplerate));
    for (let start = 0; start < frames; start += PIECE) {
      const x = await interleaved(reader, start, Math.min(PIECE, frames - start));
      await fh.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)); // little-endian hosts only, as npy.ts
    }
  } finally {
    await fh.close();
  }
}

export const command: Command = {
  summary: "decode a recording to float32 samples (.npy or 32-bit float .wav)",
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "decode", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length !== 1) throw new UsageError(`expected one audio file, got ${cl.positionals.length}\n${USAGE}`);
    const output = cl.options.output;
    if (typeof output !== "string") throw new UsageError("missing -o/--output FILE (.npy or .wav)");
    const ext = extname(output).toLowerCase();
    if (ext !== ".npy" && ext !== ".wav") throw new UsageError(`-o: output must end in .npy or .wav, got '${output}'`);
    const te = timeExpansionOption(cl.options["time-expansion"]);

    if (ext === ".npy") {
      // Channel by channel through `decode`, so nothing is sized by a header's frame count before
      // the stream has delivered those frames.
      const { data, frames, channels } = await decode(cl.positionals[0]);
      const out = new Float32Array(frames * channels);
      for (let c = 0; c < channels; c++) for (let i = 0; i < frames; i++) out[i * channels + c] = data[c][i];
      await writeFile(output, encodeNpy(out, [frames, channels]));
      return EXIT.ok;
    }
    const reader = await openAudio(cl.positionals[0]);
    try {
      await writeWav(reader, output, Math.round(applyTimeExpansion(reader.info, te).samplerate));
    } catch (err) {
      await rm(output, { force: true }); // no half-written WAV left behind
      throw err;
    } finally {
      await reader.close();
    }
    return EXIT.ok;
  },
};
