/**
 * Feature values as the viewer shows them: the features of SPEC §7 with readable names and
 * units, in the specification's order; any other name (set through the API) follows as it is.
 */
import { el } from "./dom.js";

export interface FeatureValue { name: string; value: number | null }

interface Presentation {
  label: string;
  unit: string;
  /** Stored value × factor = value in `unit` (Hz shown as kHz). */
  factor?: number;
}

const KHZ = { unit: "kHz", factor: 1e-3 };

const PRESENTATION: Record<string, Presentation> = {
  duration_s: { label: "Duration", unit: "s" },
  rms_dbfs: { label: "RMS level", unit: "dBFS" },
  peak_dbfs: { label: "Peak level", unit: "dBFS" },
  zero_crossing_rate: { label: "Zero-crossing rate", unit: "per sample" },
  spectral_centroid_hz: { label: "Spectral centroid", ...KHZ },
  spectral_bandwidth_hz: { label: "Spectral bandwidth", ...KHZ },
  spectral_flatness: { label: "Spectral flatness", unit: "" },
  spectral_rolloff_hz: { label: "Spectral roll-off (85 %)", ...KHZ },
  peak_frequency_hz: { label: "Peak frequency", ...KHZ },
  low_freq_hz: { label: "Low frequency (−20 dB)", ...KHZ },
  high_freq_hz: { label: "High frequency (−20 dB)", ...KHZ },
  bandwidth_hz: { label: "Bandwidth (−20 dB)", ...KHZ },
  snr_db: { label: "Signal-to-noise ratio", unit: "dB" },
  // A binary value: the API lists it without a number.
  log_mel: { label: "Mean log-mel spectrum", unit: "64 bands, stored as binary" },
};
const ORDER = Object.keys(PRESENTATION);

/** The value in its unit to four significant digits; "—" for none. */
function valueText(f: FeatureValue): string {
  if (f.value === null) return "—";
  return String(Number((f.value * (PRESENTATION[f.name]?.factor ?? 1)).toPrecision(4)));
}

/** One row per feature (its name in `data-feature`): readable name, value, unit. */
export function featureTable(features: readonly FeatureValue[]): HTMLTableElement {
  const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  const sorted = [...features].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  return el("table", "features", ...sorted.map((f) => {
    const row = el("tr", "", el("th", "", PRESENTATION[f.name]?.label ?? f.name), el("td", "value", valueText(f)), el("td", "unit", PRESENTATION[f.name]?.unit ?? ""));
    row.dataset.feature = f.name;
    return row;
  }));
}
