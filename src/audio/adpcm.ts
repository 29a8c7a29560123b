import type { WaveFormat } from "./riff.js";
import type { BlockCodec } from "./layout.js";
import { AudioFormatError } from "./types.js";
export function adpcmCodecFromWaveFormat(fmt: WaveFormat, container: string): { codec: BlockCodec; encoding: string; bits: number | null } {
  throw new AudioFormatError(`${container}: ADPCM format tag 0x${fmt.tag.toString(16)} not implemented yet`);
}
