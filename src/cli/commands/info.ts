/**
 * `sonotile info <audio> [--json] [--time-expansion X] [--no-md5]` (SPEC §8): what a recording
 * is — container, encoding, rate, channels, frames, duration (in real units when time-expanded),
 * MD5 of the file, and the GUANO / bext / LIST-INFO metadata found in it.
 */
import { applyTimeExpansion, fileMd5, openAudio } from "../../audio/index.js";
import { durationText, plural, type AudioInfo } from "../../audio/types.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { checkTimeExpansionOption, optionRows, readCommandLine, timeExpansionOption, type OptionSpec } from "../flags.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "json", boolean: true, doc: "print one JSON object instead of text" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor (SPEC §3.2): samplerate × X, duration / X; default the file's GUANO TE, else 1" },
  { name: "no-md5", boolean: true, doc: "skip the MD5 of the file (which reads the whole file)" },
];

const USAGE = `usage: sonotile info <audio> [options]

Describes a recording.

${optionRows(OPTIONS)}`;

/** Flattens nested metadata into "group.key: value" lines for the human-readable form. */
function metadataLines(metadata: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [group, value] of Object.entries(metadata)) {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) if (v !== "" && v !== 0) lines.push(`  ${group}.${k}: ${String(v)}`);
    } else lines.push(`  ${group}: ${String(value)}`);
  }
  return lines;
}

/**
 * The container, the codec and the bits per sample of a recording: `wav, pcm_16, 16 bits`, `ogg,
 * opus`. A codec that is its own container — an MP3 or FLAC stream — is named once (`mp3`, `flac,
 * 24 bits`): it read `mp3, mp3`.
 */
function formatText(info: Pick<AudioInfo, "container" | "encoding" | "bitsPerSample">): string {
  const names = info.encoding === info.container ? [info.container] : [info.container, info.encoding];
  return [...names, ...(info.bitsPerSample ? [`${info.bitsPerSample} bits`] : [])].join(", ");
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "info", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length !== 1) throw new UsageError(`expected one audio file, got ${cl.positionals.length} (see --help)`);
    const path = cl.positionals[0];
    const te = timeExpansionOption(cl.options["time-expansion"]);

    const reader = await openAudio(path);
    let info;
    try {
      checkTimeExpansionOption(te, reader.info.samplerate);
      info = applyTimeExpansion(reader.info, te);
    } finally {
      await reader.close();
    }
    const md5 = cl.options["no-md5"] ? undefined : await fileMd5(path);
    if (cl.options.json) {
      process.stdout.write(JSON.stringify({ path, ...info, md5 }) + "\n");
      return EXIT.ok;
    }
    const lines = [
      `file:        ${path}`,
      `format:      ${formatText(info)}`,
      `samplerate:  ${info.samplerate} Hz${info.timeExpansion !== 1 ? ` (stored ${info.fileSamplerate} Hz, time expansion ${info.timeExpansion}${te === undefined ? ", GUANO TE" : ""})` : ""}`,
      `channels:    ${info.channels}`,
      `frames:      ${info.frames}`,
      `duration:    ${durationText(info.duration, info.samplerate)}`,
      ...(info.timestamp ? [`recorded:    ${info.timestamp}`] : []),
      ...(info.location ? [`location:    ${info.location.latitude}, ${info.location.longitude}`] : []),
      ...(info.fileSize !== undefined ? [`size:        ${plural(info.fileSize, "byte")}`] : []),
      ...(md5 ? [`md5:         ${md5}`] : []),
    ];
    const meta = metadataLines(info.metadata);
    if (meta.length) lines.push("metadata:", ...meta);
    process.stdout.write(lines.join("\n") + "\n");
    return EXIT.ok;
  },
};
