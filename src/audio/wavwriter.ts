/**
 * Header of a 32-bit IEEE float WAV file (what `sonotile decode -o x.wav` writes and what
 * `soundfile.write(..., subtype="FLOAT")` gives): RIFF with fmt (WAVE_FORMAT_IEEE_FLOAT) + fact +
 * data, or RF64 (EBU Tech 3306, ds64 chunk with 64-bit sizes) when the data exceeds 4 GiB.
 * The samples follow the header, interleaved little-endian float32.
 */

const RIFF_MAX = 0xffffffff;

/** Returns the header bytes; the data chunk of `frames · channels · 4` bytes follows directly. */
export function floatWavHeader(frames: number, channels: number, samplerate: number): Uint8Array {
  const dataBytes = frames * channels * 4;
  // RIFF: "RIFF" size "WAVE" + fmt (8+18) + fact (8+4) + data header (8) = 58 bytes before data.
  const rf64 = 58 - 8 + dataBytes > RIFF_MAX;
  const ds64Bytes = rf64 ? 8 + 28 : 0;
  const header = new Uint8Array(58 + ds64Bytes);
  const v = new DataView(header.buffer);
  const tag = (at: number, s: string) => [...s].forEach((c, i) => (header[at + i] = c.charCodeAt(0)));
  const u64 = (at: number, x: number) => {
    v.setUint32(at, x % 2 ** 32, true);
    v.setUint32(at + 4, Math.floor(x / 2 ** 32), true);
  };
  tag(0, rf64 ? "RF64" : "RIFF");
  v.setUint32(4, rf64 ? RIFF_MAX : header.length - 8 + dataBytes, true);
  tag(8, "WAVE");
  let at = 12;
  if (rf64) {
    tag(at, "ds64");
    v.setUint32(at + 4, 28, true);
    u64(at + 8, header.length - 8 + dataBytes); // RIFF size
    u64(at + 16, dataBytes);
    u64(at + 24, frames); // sample count
    v.setUint32(at + 32, 0, true); // no table entries
    at += 36;
  }
  tag(at, "fmt ");
  v.setUint32(at + 4, 18, true);
  v.setUint16(at + 8, 3, true); // WAVE_FORMAT_IEEE_FLOAT
  v.setUint16(at + 10, channels, true);
  v.setUint32(at + 12, samplerate, true);
  v.setUint32(at + 16, samplerate * channels * 4, true);
  v.setUint16(at + 20, channels * 4, true);
  v.setUint16(at + 22, 32, true);
  v.setUint16(at + 24, 0, true); // cbSize
  at += 26;
  tag(at, "fact");
  v.setUint32(at + 4, 4, true);
  v.setUint32(at + 8, Math.min(frames, RIFF_MAX), true);
  at += 12;
  tag(at, "data");
  v.setUint32(at + 4, rf64 ? RIFF_MAX : dataBytes, true);
  return header;
}
