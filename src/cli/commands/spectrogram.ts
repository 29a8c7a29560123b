/**
 * `sonotile spectrogram <audio> -o out.{png,npy,f32} [parameters] [--start S] [--end S]
 * [--fmin HZ] [--fmax HZ] [--height ROWS] [--time-expansion X]` (SPEC §8): the spectrogram of a
 * recording, or of the piece [start, end) seconds of it with whole-recording semantics (SPEC §3),
 * its rows every bin or a band's as the one-shot image route gives them (pieceLayout: the same
 * crop, merge, checks and words), written as an image or as numbers, with what made it
 * (SpectrogramProvenance: in the PNG's text, in a .json beside .npy and .f32).
 * Silent on success; errors are one line (exit 2 for usage and parameters, 1 for unreadable input).
 */
import { closeSync, openSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { AudioFormatError, fileMd5, openAudio, realSecondsHint, timeExpansionOf, type AudioReader } from "../../audio/index.js";
import { framesInInterval, noFrameInInterval, type FrameGeometry } from "../../engine/geometry.js";
import { namingFile } from "../../engine/analysis.js";
import { RecordingSpectrogram } from "../../engine/recording.js";
import { ParamsError, parseParams, type Params } from "../../engine/params.js";
import { VERSION } from "../../engine/version.js";
import { npyHeader } from "../../render/npy.js";
import { MAX_COLOR_VALUES } from "../../render/colormap.js";
import { renderPng } from "../../render/image.js";
import { tileValues } from "../../tiles/compute.js";
import { bandOptionsSchema, binsPerRow, pieceLayout, rowsFrequencyRange, TileRangeError, type BandOptions, type TileLayout } from "../../tiles/grid.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { flagsHelp, numberOption, readCommandLine, timeExpansionOption, namingFlags, type CommandLine, type OptionSpec } from "../flags.js";
import { checkOutputPath, checkOutputWritable, checkSidecarPath, outputError, sidecarPath, writeOutputBytes, writeOutputFile, writeWholeSyncAt } from "../output-file.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output file, format by extension: .png (image, cmap colours), .npy (NumPy float32 [rows, frames]), .f32 (raw little-endian float32 [rows][frames]); a row a bin unless --fmin/--fmax/--height, row 0 of the numbers the lowest (0 Hz without --fmin). What made it (sonotile's version, the file's MD5, every parameter, the frames and rows, their times and frequencies, the value range) goes into the PNG's text 'sonotile', or a .json beside .npy and .f32 (-o x.npy also writes x.npy.json; a file there that is not a sonotile sidecar is refused, exit 2)" },
  { name: "start", placeholder: "S", doc: "start of the piece in seconds (frames centred in [start, end)); default 0" },
  { name: "end", placeholder: "S", doc: "end of the piece in seconds; default the end of the recording" },
  { name: "fmin", placeholder: "HZ", doc: "lowest frequency written, Hz: the bins at or above it (as the one-shot image's fmin); default 0" },
  { name: "fmax", placeholder: "HZ", doc: "highest frequency written, Hz: the bins at or below it (--fmin 0 --fmax 0 is the 0 Hz row); default the Nyquist frequency" },
  { name: "height", placeholder: "ROWS", doc: "rows written: the band's bins merged (maximum) into this many, row r the bins k0 + floor(r·n/ROWS) … of the n from the lowest, k0 (as the one-shot image's height); default one row a bin" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor of the recording (SPEC §3.2); default the file's GUANO TE, else 1" },
];

/** Output formats by lower-case extension. */
const FORMATS = [".png", ".npy", ".f32"];

/**
 * An image is drawn in memory (values, colour indices and the PNG): larger ones are refused
 * with a message naming the limit. Numbers have no such limit: they are streamed to the file.
 * The values are coloured as one block of the DSP core (MAX_COLOR_VALUES, 2^28 − 1): at 2^28 the
 * image was computed, then refused by the core's allocator.
 */
const MAX_PNG_PIXELS = MAX_COLOR_VALUES;

/** Values per block while streaming numbers to a file: 64 MB of float32 in memory at a time. */
const STREAM_BLOCK_VALUES = 1 << 24;

const USAGE = `usage: sonotile spectrogram <audio> -o out.{png,npy,f32} [options]

The spectrogram of a recording (SPEC §3), or of the frames centred in [--start, --end);
every bin, or those in [--fmin, --fmax] merged into --height rows, as the one-shot image route's.

${flagsHelp(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    try {
      return await spectrogram(args);
    } catch (err) {
      throw namingFlags(err);
    }
  },
};

/** Parses, validates everything, computes and writes; errors propagate to main (exit codes). */
async function spectrogram(args: string[]): Promise<number> {
  const cl = readCommandLine(args, OPTIONS, USAGE, { name: "spectrogram", takesParams: true });
  if (!cl) return EXIT.ok;
  if (cl.positionals.length !== 1) throw new UsageError(`expects one audio file, got ${cl.positionals.length} (see --help)`);
  const output = cl.options.output;
  if (typeof output !== "string" || output === "") throw new UsageError("-o/--output FILE is required (.png, .npy or .f32)");
  const format = extname(output).toLowerCase();
  if (!FORMATS.includes(format)) throw new UsageError(`-o ${output}: unknown output format '${extname(output)}' (use .png, .npy or .f32)`);
  const start = numberOption(cl.options.start, "start", (v) => v >= 0, "a number >= 0");
  const end = numberOption(cl.options.end, "end", (v) => v > (start ?? 0), `a number > ${start ?? 0} (the start; leave --end out to read to the recording's end)`);
  const timeExpansion = timeExpansionOption(cl.options["time-expansion"]);
  const params = parseParams(cl.params); // ParamsError → exit 2 naming the field (run() adds the flag)
  const band = bandOptions(cl.options);

  const [audio] = cl.positionals;
  await checkOutputPath(audio, output);
  if (format !== ".png") await checkSidecarPath(output);
  await checkOutputWritable(output);
  const reader = await openAudio(audio);
  try {
    if (reader.info.frames === 0) throw new AudioFormatError(`${audio}: the recording holds no samples`);
    const recording = new RecordingSpectrogram(reader, params, { timeExpansion, name: audio });
    // The MD5 reads the whole file: begun now, it is read while the spectrogram is computed, not
    // after it (a piece of a long recording would otherwise wait for all of its bytes twice over).
    // Its failure is the made() that awaits it, if any. A run that ends without it (a usage error
    // found meanwhile, a failure) stops it, rather than waiting for the rest of the file to be read.
    const hashing = new AbortController();
    const md5 = fileMd5(audio, { signal: hashing.signal });
    md5.catch(() => {});
    try {
      const [f0, f1] = framesInInterval(start ?? 0, end ?? Infinity, recording.frames, recording.geometry);
      if (f1 <= f0) {
        const { bound, message } = noFrameInInterval(start ?? 0, end ?? Infinity, recording.frames, recording.geometry);
        throw new UsageError(`--${bound}: ${message}${realSecondsHint(reader.info, timeExpansion, "--time-expansion")}`);
      }
      const layout = bandLayout(f0, f1, recording.geometry, band);
      if (format === ".png") await checkImageSize(reader, layout);
      // An image's value range is its own (writeImage); numbers have none to report, and their
      // range may need a pass over the recording that the numbers themselves do not.
      const made = async (valueRange?: readonly [number, number]): Promise<SpectrogramProvenance> => ({
        version: VERSION,
        source: { path: audio, md5: await md5, time_expansion: timeExpansionOf(reader.info, timeExpansion) },
        params: recording.params,
        start: start ?? null,
        end: end ?? null,
        fmin: band.fmin ?? null,
        fmax: band.fmax ?? null,
        height: band.height ?? null,
        ...frameAxes(recording, layout),
        ...(valueRange && { value_range: valueRange }),
      });
      if (format === ".png") await writeOutputFile(output, (path) => writeImage(path, output, recording, layout, made));
      else {
        // The sidecar is put in place once the numbers are written, before they are: a failed write leaves both as they were.
        await writeOutputFile(output, async (path) => {
          await writeNumbers(path, output, format === ".npy", recording, layout);
          await writeOutputBytes(sidecarPath(output), JSON.stringify({ sonotile: await made() }, null, 1) + "\n");
        });
      }
    } catch (err) {
      throw namingFile(err, audio);
    } finally {
      hashing.abort();
      await md5.catch(() => {}); // its file closed before the run ends
      recording.dispose();
    }
  } finally {
    await reader.close();
  }
  return EXIT.ok;
}

/**
 * What made a spectrogram file, written with it under the key `sonotile` (a PNG's iTXt, the .json
 * beside numbers): enough to say how each value was made and to make it again.
 */
interface SpectrogramProvenance {
  /** sonotile's version: another may compute other values (README: the engine version). */
  version: string;
  /** The recording: its path as named, the MD5 of its bytes (the API's recording `hash`), the time expansion used. */
  source: { path: string; md5: string; time_expansion: number };
  /** Every SPEC §2 parameter, defaults included. */
  params: Params;
  /** --start and --end as given, in seconds; null where not given. */
  start: number | null;
  end: number | null;
  /** --fmin and --fmax as given, in Hz, and --height; null where not given. */
  fmin: number | null;
  fmax: number | null;
  height: number | null;
  /** The whole-recording frames written, [first, end), and where they and the rows lie (frameAxes). */
  frames: [number, number];
  geometry: FrameAxes;
  /** An image's: the values mapped to its first and last colour (SPEC §3.10). */
  value_range?: readonly [number, number];
}

/** A piece's axes: the STFT geometry (SPEC §3.5) and, as the tile headers give them, times and frequencies. */
interface FrameAxes extends Pick<RecordingSpectrogram["geometry"], "samplerate" | "nperseg" | "noverlap" | "hop" | "bins"> {
  /** Centre of the first frame written, seconds: f0 · hop / samplerate. */
  first_frame_seconds: number;
  /** Seconds between frames: hop / samplerate. */
  hop_seconds: number;
  /** Hz between bins: samplerate / nperseg; bin k is at k · bin_hz. */
  bin_hz: number;
  /** Rows written: `bins`, or the band's (--fmin, --fmax) merged into --height. */
  rows: number;
  /** Bins a row merges, on average: the band's bins over `rows` (1: a row a bin). */
  bins_per_row: number;
  /** Hz of the band's lowest bin (row 0 of the numbers, the image's bottom row) and of its highest. */
  frequency_range: [number, number];
}

/** The frames and rows of `layout` and their axes, for its provenance. */
function frameAxes(recording: RecordingSpectrogram, layout: TileLayout): { frames: [number, number]; geometry: FrameAxes } {
  const { samplerate, nperseg, noverlap, hop, bins } = recording.geometry;
  return {
    frames: [layout.f0, layout.f1],
    geometry: {
      samplerate, nperseg, noverlap, hop, bins, first_frame_seconds: (layout.f0 * hop) / samplerate, hop_seconds: hop / samplerate, bin_hz: samplerate / nperseg,
      rows: layout.rows, bins_per_row: binsPerRow(layout), frequency_range: rowsFrequencyRange(layout, recording.geometry),
    },
  };
}

/**
 * --fmin, --fmax and --height, read as the one-shot image route reads its fields
 * (bandOptionsSchema, spaces around a number allowed as for every number option): a bad one is a
 * ParamsError naming its field, to which run() adds the flag — `height (--height): must be > 0`.
 */
function bandOptions(options: CommandLine["options"]): BandOptions {
  const given = Object.fromEntries((["fmin", "fmax", "height"] as const).filter((name) => options[name] !== undefined).map((name) => [name, String(options[name]).trim()]));
  const result = bandOptionsSchema.safeParse(given);
  if (result.success) return result.data;
  throw new ParamsError(result.error.issues.map((i) => ({ field: i.path.join("."), message: i.message })));
}

/**
 * Frames [f0, f1) with the rows of `band`, laid out as the one-shot image route lays them out
 * (pieceLayout); a band outside the spectrogram — no bin in it, upside down, fewer bins than
 * --height — is a ParamsError naming the field with the route's words.
 */
function bandLayout(f0: number, f1: number, g: FrameGeometry, band: BandOptions): TileLayout {
  try {
    return pieceLayout(f0, f1, g, band);
  } catch (err) {
    if (err instanceof TileRangeError) throw new ParamsError([{ field: err.field, message: err.message.slice(err.field.length + 2) }]);
    throw err;
  }
}

/**
 * Refuses an image of `layout` over MAX_PNG_PIXELS (exit 2) before anything is computed, its
 * rows counted after the band's crop — after reading the recording's last sample frame: a
 * compressed stream's frame count is its header's claim, and a claim past the stream's end is the
 * file's fault (exit 1, the reader naming where the stream ends), not the command line's.
 */
async function checkImageSize(reader: AudioReader, layout: TileLayout): Promise<void> {
  const pixels = layout.columns * layout.rows;
  if (pixels <= MAX_PNG_PIXELS) return;
  await reader.read(0, reader.info.frames - 1, 1);
  throw new UsageError(`the image would be ${layout.columns} × ${layout.rows} = ${pixels} pixels (columns × rows); the limit is ${MAX_PNG_PIXELS}: draw fewer rows (--height, --fmin/--fmax), a piece (--start/--end), use a longer --hop-size, or write numbers (.npy, .f32)`);
}

/**
 * The frames and rows of `layout` as a PNG, drawn in memory (checkImageSize first) from the
 * values the one-shot image route draws (tileValues), written to `path`; write errors name
 * `output`. Its text: `Software` (sonotile and its version, as other programs name themselves
 * there) and `sonotile`, what made it as JSON.
 */
async function writeImage(path: string, output: string, recording: RecordingSpectrogram, layout: TileLayout, made: (valueRange: readonly [number, number]) => Promise<SpectrogramProvenance>): Promise<void> {
  const data = await tileValues(recording, layout);
  const range = await recording.valueRange();
  const text = [{ keyword: "Software", text: `sonotile ${VERSION}` }, { keyword: "sonotile", text: JSON.stringify(await made(range)) }];
  const png = renderPng({ data, bins: layout.rows, frames: layout.columns, valueRange: range }, recording.params.cmap, text);
  await writeFile(path, png).catch((err: Error) => Promise.reject(outputError(output, err)));
}

/**
 * The frames and rows of `layout` as float32 [rows][frames] (.npy with its header, or raw .f32),
 * computed and written block by block to `path` (write errors name `output`): memory stays
 * bounded (STREAM_BLOCK_VALUES) however long the piece. Each block's rows go to their places in
 * the file; synchronous writes, since a block has as many rows as the file and nothing else runs
 * in this process meanwhile.
 */
async function writeNumbers(path: string, output: string, npy: boolean, recording: RecordingSpectrogram, layout: TileLayout): Promise<void> {
  const { rows, f0, f1 } = layout;
  const frames = f1 - f0;
  const header = npy ? npyHeader([rows, frames]) : new Uint8Array(0);
  const step = Math.max(1, Math.floor(STREAM_BLOCK_VALUES / rows));
  const write = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) => {
    try {
      writeWholeSyncAt(fd, bytes, offset, length, position);
    } catch (err) {
      throw outputError(output, err as Error);
    }
  };
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw outputError(output, err as Error);
  }
  try {
    write(fd, header, 0, header.length, 0);
    for await (const block of recording.range(f0, f1, step, layout.binEdges)) {
      // Float32Array is host-endian; every platform Node runs on here is little-endian (npy.ts).
      const bytes = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
      const rowBytes = 4 * block.frames;
      if (block.frames === frames) write(fd, bytes, 0, bytes.length, header.length);
      else for (let r = 0; r < rows; r++) write(fd, bytes, r * rowBytes, rowBytes, header.length + 4 * (r * frames + block.firstFrame - f0));
    }
  } finally {
    closeSync(fd);
  }
}
