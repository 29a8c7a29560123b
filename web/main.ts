/**
 * The sonotile viewer (issue 8): datasets and recordings from /v1, a recording as a pannable,
 * zoomable row of spectrogram tiles (SPEC §4), a panel for every SPEC §2 parameter, playback of
 * the visible range, point read-out, clips drawn as boxes with their features computed by a
 * batch job, and clips imported from and exported as selection tables (see README, "The viewer").
 *
 * Zoom is a power of two of CSS pixels per frame, `pxPerFrame = 2^level`, so every zoom level is
 * exactly one tile pyramid level (z = max(0, −level)) drawn at an integer number of pixels per
 * column: tiles sit side by side at integer positions with no resampling seam. The view origin
 * `originPx` (the frame-0 edge's distance to the left of the plot, in pixels at this level) is an
 * integer too. Fit alone draws the nearest level at a fractional `scale` (0.71–1.41, more for a
 * recording shorter than the closest level fills), as a map viewer's fractional zoom does, so the
 * whole recording fills the plot; tile edges are rounded to whole pixels, and a zoom step goes
 * back to whole levels — to the next one on its side, whichever side of 1 the scale is. Zooming
 * out stops at the level that shows the whole recording (farthestLevel).
 */
import { COLORMAPS, PARAM_NAMES, paramsObject, SCALES, WINDOWS, type Params } from "../src/engine/params.js";
import { binRange, frameCount, frameGeometry } from "../src/engine/geometry.js";
import { MAX_ZOOM, TILE_WIDTHS } from "../src/tiles/grid.js";
import { sameClipBand, sameClipRange, TIME_TOLERANCE } from "../src/store/clip-identity.js";
import { MAX_PLAYBACK_SAMPLES } from "../src/api/playback-limit.js";
import { IMPORT_BODY_LIMIT } from "../src/api/import-limit.js";
import { $, el } from "./dom.js";
import { LatestRequest } from "./latest.js";
import { featureTable, type FeatureValue } from "./features.js";
import { dispositionFilename, faultTable, importSummary, type ImportResult } from "./selections.js";
import { bounds, ClipPanel, timeRangeText, type Tag } from "./clip-panel.js";
import { mayWrite, viewerOnly, type User } from "./access.js";

interface Page<T> { items: T[]; total: number }
/** A page of a listing paged by cursor: `next_cursor` gives the page after it, null after the last. */
interface KeysetPage<T> { items: T[]; next_cursor: string | null }
interface Dataset {
  id: string; name: string; recording_count: number;
  /** Active, or archived or trashed: its recordings are read-only then too, their own state notwithstanding (the picker lists active ones; a link opens a recording of another). */
  state: string;
}
interface Recording {
  id: string; dataset_id: string; path: string; frames: number; channels: number; samplerate: number; duration: number; time_expansion: number;
  /** Changes whenever the recording's tiles can: URLs that carry it are cached for good. */
  revision: string;
  /** Its own state: active, or archived or trashed — read-only, and opened by a link only (the list holds active ones). Its dataset's can make it read-only too (whyReadOnly). */
  state: string;
}
/** A clip: its times (s) and, if it is a box, its band (Hz, real; null: none on that side). */
interface Clip { id: string; recording_id: string; start_time: number; end_time: number; low_freq: number | null; high_freq: number | null; features: FeatureValue[]; tags: Tag[]; state: string }
interface Job { id: string; status: "pending" | "running" | "completed" | "aborted"; result: "success" | "failure" | "error" | null; message: string | null }
/** A frequency band, Hz, as extraction jobs take it. */
interface Band { low_freq: number; high_freq: number }
interface ApiError { message: string; fields?: { field: string; message: string }[] }

/** What the tile headers tell about the spectrogram of the current parameters (SPEC §4). */
interface Geometry {
  hopSeconds: number;
  /** Frequencies of the lowest and highest bin shown, Hz. */
  fLow: number;
  fHigh: number;
  /** Hz between neighbouring bins (x-bin-hz). */
  binHz: number;
  /** Rows of every tile. */
  rows: number;
  /** Frames of the whole recording's spectrogram. */
  frames: number;
}

/** A view as a link gives it: the time at the plot's middle (s) and the zoom level. */
interface LinkedView { t: number; level: number }

/** Panel defaults: the schema's for the parameters; a 256-column tile width and the whole band for the tile options. */
const DEFAULTS: Record<string, unknown> = { ...(paramsObject.parse({}) satisfies Params), width: 256, fmin: null, fmax: null };
/** Most pixels per frame when zoomed in (2^2 = 4). */
const MAX_LEVEL = 2;

const state = {
  recording: null as Recording | null,
  geometry: null as Geometry | null,
  level: 0,
  /** The tiles' display scale at this level: 1 but in a fitted view (fit). */
  scale: 1,
  originPx: 0,
  /**
   * The origin before rounding to a whole pixel: zooms anchor on it. Anchored on the rounded
   * origin, each wheel step moved the time under the pointer by up to half a pixel of its level
   * (64 frames at 1/128 px per frame), and the call pointed at slid away as it was zoomed in to.
   */
  exactOriginPx: 0,
  /** Query string of the current parameters and tile options (no leading "?"). */
  query: "",
  /** Bumped whenever the parameters change, so that late answers of old requests are ignored. */
  generation: 0,
  /** The status line shows a tile's failure: taken off once every failed tile has loaded or left the view (it stayed, in red, over a complete spectrogram). */
  tileFailureShown: false,
  /** Time (s) and frequency (Hz) of the last read-out: its marker follows them through zooms and pans. */
  readoutAt: null as { t: number; f: number } | null,
  /**
   * The selection (real seconds): what "Play selection" plays and "Clip selection" (Enter) makes a
   * clip of. Set by a shift-drawn box, a clip opened from the list, or by the keys [ and ] at the
   * plot's middle; `end` null while only its start is marked. `clipId`: the clip it was made from
   * (a box just drawn, a clip clicked or opened), which "Clip selection" selects while the times
   * are still that clip's — it made a time-only twin of a box, which has a band the selection has not.
   */
  selection: null as { start: number; end: number | null; clipId: string | null } | null,
  /** A clip of the selection is being created: "Clip selection" and Enter wait for it. */
  clipping: false,
  /**
   * The view a link asks for (the time at the plot's middle, s, and the zoom level; "whole": the
   * whole recording), shown once the geometry of the link's parameters is known — of a recording
   * opened, or of the one open when the link changes its parameters. Null: none asked.
   */
  linkedView: null as LinkedView | "whole" | null,
  /** Why the recording is read-only ("r1.wav is archived"), null if it is not (whyReadOnly). */
  readOnly: null as string | null,
  /**
   * The factor from the old real seconds to the new ones, as the recording's time expansion changed
   * elsewhere (refreshRecording): the next parameters' answer keeps the part of the file in view —
   * the time at the middle and the seconds across the plot times it, a fitted view fitted again.
   * Null: none.
   */
  rescale: null as number | null,
  /** The recording's dataset as last read (a link's, or re-read as a recording is opened and the page shown again); null until read — a recording listed, of a dataset active when listed. */
  dataset: null as Dataset | null,
};

// ---------------------------------------------------------------------------------------------
// API access

function token(): string { return localStorage.getItem("sonotile.token") ?? ""; }

function authHeaders(): Record<string, string> {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

/** A refusal of the API: its message, HTTP status and, for a 400, the fields it names. */
type ApiFailure = Error & { status: number; fields: ApiError["fields"] };

/** JSON from the API (null for a 204), with the token; a body is JSON unless `init.headers` gives its Content-Type. Throws an ApiFailure for an answer other than 2xx. */
async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetchApi(path, { ...init, headers: { ...authHeaders(), ...(init.body ? { "Content-Type": "application/json" } : {}), ...init.headers } });
  if (!res.ok) throw await apiFailure(res);
  return (res.status === 204 ? null : res.json()) as Promise<T>;
}

/**
 * `fetch`, its network failure said as the server not reached: the browser's own words alone
 * ("clip not created: Failed to fetch") did not say what failed. An abort stays an abort.
 */
async function fetchApi(path: string, init: RequestInit): Promise<Response> {
  return fetch(path, init).catch((err: Error) => {
    if (err.name === "AbortError") throw err;
    throw new Error(`the server cannot be reached (${err.message})`);
  });
}

/** The error of an answer other than 2xx: the API's message (its reason phrase if the body has none) and fields. */
async function apiFailure(res: Response): Promise<ApiFailure> {
  const body = (await res.json().catch(() => ({}))) as ApiError;
  return Object.assign(new Error(body.message ?? `${res.status} ${res.statusText}`), { status: res.status, fields: body.fields });
}

/** The user of the page's token (GET /v1/users/me; null without one, refused, or not known yet): whether the page offers to create clips. */
let user: User | null = null;
/**
 * The answer of the last GET /v1/users/me (null without a token, or refused), which the page's
 * offers and the clip panel (ClipPanelHost.user) both wait on: one request serves both — each
 * asked its own, the panel again at every clip it opened.
 */
let userAnswer: Promise<User | null> = Promise.resolve(null);

/**
 * Asks who the token's user is — at load, when a token is entered, back from another tab, after a
 * refusal (403: their role may have changed) — and offers what they may do. Only the latest
 * question's answer counts.
 */
function fetchUser(): Promise<User | null> {
  const answer = token() ? api<User>("/v1/users/me").catch(() => null) : Promise.resolve(null);
  userAnswer = answer;
  void answer.then((found) => {
    if (userAnswer !== answer) return;
    user = found;
    offerClipCreation();
  });
  return answer;
}

function setStatus(text: string, error = false) {
  const el = $("status");
  el.textContent = text;
  el.className = error ? "error" : "";
  state.tileFailureShown = false;
}

// ---------------------------------------------------------------------------------------------
// Parameter panel: one field per SPEC §2 parameter (defaults and choices from the shared
// schema), plus the tile width.

/**
 * `unit`: what a number means, in the field's label (SPEC §2): "window_size 0.025" read as
 * milliseconds or samples as easily as seconds, and "hop_size 0.5" as seconds.
 */
type Field = { name: string; group: string; choices?: readonly (string | number)[]; kind?: "boolean"; unit?: string };
const FIELDS: Field[] = [
  { name: "resample", group: "audio", kind: "boolean" }, { name: "samplerate", group: "audio", unit: "Hz" },
  { name: "low_freq", group: "audio", unit: "Hz" }, { name: "high_freq", group: "audio", unit: "Hz" }, { name: "filter_order", group: "audio" },
  { name: "window_size", group: "stft", unit: "s" }, { name: "hop_size", group: "stft", unit: "× window" }, { name: "window", group: "stft", choices: WINDOWS },
  { name: "kaiser_beta", group: "stft" },
  { name: "scale", group: "amplitude", choices: SCALES }, { name: "clamp", group: "amplitude", kind: "boolean" },
  { name: "min_dB", group: "amplitude" }, { name: "max_dB", group: "amplitude" }, { name: "normalize", group: "amplitude", kind: "boolean" },
  { name: "channel", group: "spectrogram" }, { name: "cmap", group: "spectrogram", choices: COLORMAPS },
  { name: "pcen", group: "spectrogram", kind: "boolean" },
  { name: "pcen_smooth", group: "pcen" }, { name: "pcen_gain", group: "pcen" }, { name: "pcen_bias", group: "pcen" },
  { name: "pcen_power", group: "pcen" }, { name: "pcen_eps", group: "pcen" },
  { name: "width", group: "tiles", choices: TILE_WIDTHS, unit: "columns" }, { name: "fmin", group: "tiles", unit: "Hz" }, { name: "fmax", group: "tiles", unit: "Hz" },
];

function buildPanel() {
  const form = $<HTMLFormElement>("params");
  const missing = PARAM_NAMES.filter((n) => !FIELDS.some((f) => f.name === n));
  if (missing.length) throw new Error(`the parameter panel lacks ${missing.join(", ")}`);
  const groups = new Map<string, HTMLFieldSetElement>();
  for (const f of FIELDS) {
    let set = groups.get(f.group);
    if (!set) {
      set = el("fieldset", "", el("legend", "", f.group));
      groups.set(f.group, set);
      form.append(set);
    }
    const value = DEFAULTS[f.name];
    const label = el("label", "", f.unit ? `${f.name} (${f.unit})` : f.name);
    let input: HTMLInputElement | HTMLSelectElement;
    if (f.choices) {
      input = document.createElement("select");
      for (const c of f.choices) input.add(new Option(String(c), String(c), false, c === value));
    } else {
      input = document.createElement("input");
      if (f.kind === "boolean") {
        input.type = "checkbox";
        input.checked = value as boolean;
      } else {
        input.value = value === null ? "" : String(value);
        if (value === null) input.placeholder = "none";
      }
    }
    input.name = f.name;
    input.id = `param-${f.name}`;
    const error = document.createElement("span");
    error.className = "error";
    error.id = `error-${f.name}`;
    label.append(input, error);
    set.append(label);
  }
  form.addEventListener("change", () => void applyParams());
  form.addEventListener("submit", (e) => { e.preventDefault(); void applyParams(); });
}

/** Sets every field of the panel to its value in `q`, its default where `q` has none (a link gives the parameters that differ). */
function setPanel(q: URLSearchParams) {
  for (const f of FIELDS) {
    const input = $<HTMLInputElement>(`param-${f.name}`), def = DEFAULTS[f.name];
    const text = q.get(f.name) ?? (def === null ? "" : String(def));
    if (f.kind === "boolean") input.checked = text === "true";
    else input.value = text;
  }
}

/** The query of the panel: only values that differ from the defaults, so URLs stay short and shared. */
function panelQuery(): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of FIELDS) {
    const input = $<HTMLInputElement>(`param-${f.name}`);
    const text = f.kind === "boolean" ? String(input.checked) : input.value.trim();
    const def = DEFAULTS[f.name];
    // The tile width always goes: the page's default is not the server's.
    if (f.name === "width" || text !== (def === null ? "" : String(def))) q.set(f.name, text);
  }
  return q;
}

function showFieldErrors(err: ApiError | null) {
  for (const el of document.querySelectorAll("#params .error")) el.textContent = "";
  for (const f of err?.fields ?? []) addFieldError(f.field, f.message);
}

/** Adds a message at a parameter's field, after any it shows. */
function addFieldError(field: string, message: string) {
  const el = document.getElementById(`error-${field}`);
  if (el) el.textContent = el.textContent ? `${el.textContent}; ${message}` : message;
}

// ---------------------------------------------------------------------------------------------
// Geometry of the current parameters

/** Rows requested per tile: the bins (merged by maximum on the server) down to the plot height. */
function tileRows(bins: number): number { return Math.min(bins, $("plot").clientHeight); }

/** Frames, and bins in the fmin–fmax band, as the server will compute them (SPEC §3.2, 3.3, 3.5, §4). */
function expectedGeometry(rec: Recording, q: URLSearchParams) {
  const get = (name: string) => q.get(name) ?? String(DEFAULTS[name]);
  const resample = get("resample") === "true" && Number(get("samplerate")) !== rec.samplerate;
  const fs = resample ? Number(get("samplerate")) : rec.samplerate;
  const g = frameGeometry(Number(get("window_size")), Number(get("hop_size")), fs);
  // resample_poly's output length is ceil(n · up / down) = ceil(n · fs / fs_in).
  const samples = resample ? Math.ceil((rec.frames * fs) / rec.samplerate) : rec.frames;
  const [k0, k1] = binRange(g, q.has("fmin") ? Number(q.get("fmin")) : undefined, q.has("fmax") ? Number(q.get("fmax")) : undefined);
  return { frames: frameCount(samples, g), bins: k1 - k0 };
}

/**
 * Applies the panel: asks the server for the first tile at the current zoom (which also checks
 * the parameters against the recording), reads the geometry from its headers and redraws. A 400
 * puts its messages next to the fields it names and keeps the old view.
 */
async function applyParams() {
  const rec = state.recording;
  if (!rec) return;
  const q = panelQuery();
  // Rows need the bin count; if the parameters are too wrong to tell, the server's answer
  // (without a height) names the problem.
  let expected: { frames: number; bins: number } | null = null;
  try {
    const e = expectedGeometry(rec, q);
    if (e.bins >= 1) {
      expected = e;
      q.set("height", String(tileRows(e.bins)));
    }
  } catch { /* reported by the server below */ }
  const generation = ++state.generation;
  setStatus("loading…");
  const res = await fetchApi(tileUrl(rec, 0, 0, "png", q.toString()), { headers: authHeaders() }).catch((err: Error) => err);
  if (generation !== state.generation) return;
  const again = (ms: number) => setTimeout(() => { if (generation === state.generation) void applyParams(); }, ms);
  if (res instanceof Error) {
    // Asked again until the server answers: given up, the panel showed the new values over the
    // old parameters' tiles for good (a PCEN switched off while the server restarted stayed on).
    setStatus(`${res.message}: the parameters are applied once it answers`, true);
    again(UNREACHABLE_RETRY_MS);
    return;
  }
  const retry = retryAfter(res);
  if (retry !== null) {
    // The recording's statistics are being computed (or the server is busy): ask again then.
    setStatus(((await res.json().catch(() => ({}))) as ApiError).message ?? `the server is busy (${res.status})`);
    again(retry);
    return;
  }
  if (!res.ok || !expected) {
    const err = (await res.json().catch(() => ({ message: `the parameters do not fit this recording (${res.status})` }))) as ApiError;
    showFieldErrors(err);
    setStatus(err.message, true);
    return;
  }
  showFieldErrors(null);
  const [fLow, fHigh] = res.headers.get("x-frequency-range")!.split(",").map(Number);
  const first = state.geometry === null || state.query === "";
  // The time at the middle of the plot stays there when the hop changes (the origin counts frames).
  const rescale = state.rescale ?? 1, fitted = state.scale !== 1;
  const changedUnits = state.rescale !== null;
  state.rescale = null;
  const middle = first ? 0 : timeAt($("plot").clientWidth / 2) * rescale;
  const secondsPerPx = first ? 0 : (state.geometry!.hopSeconds / pxPerFrame()) * rescale;
  const previousHop = state.geometry?.hopSeconds;
  state.query = q.toString();
  state.geometry = {
    hopSeconds: Number(res.headers.get("x-hop-seconds")),
    fLow, fHigh,
    binHz: Number(res.headers.get("x-bin-hz")),
    rows: Number(res.headers.get("x-shape")!.split(",")[0]),
    frames: expected.frames,
  };
  clearTiles();
  setStatus(""); // before the view: a link's level raised says so (showView)
  const linked = state.linkedView;
  state.linkedView = null;
  if (linked !== null || first) showView(linked ?? "whole");
  else if (changedUnits && fitted) fit();
  else if (changedUnits || state.geometry.hopSeconds !== previousHop) {
    // The seconds the plot spans stay (to the nearest level) as the hop changes: the level alone
    // kept the pixels per frame, and a 2 ms window in place of 25 ms showed a twelfth of the time.
    keepSecondsPerPx(secondsPerPx, middle);
  } else centreOn(middle); // the same frames: the same view, a fitted one's scale included
}

/**
 * Shows `secondsPerPx` real seconds a pixel, centred on frame `middle`, to the nearest level — and
 * past the closest level exactly, scaled as fit() scales: a time expansion raised while zoomed in
 * kept the closest level at scale 1, the plot spanning the old seconds. A recording then narrower
 * than the plot is fitted.
 */
function keepSecondsPerPx(secondsPerPx: number, middle: number) {
  const wanted = state.geometry!.hopSeconds / secondsPerPx; // pixels a frame
  // The nearest level, not `wanted` itself, decides: 4.000000001 px is level 2's, at scale 1.
  const level = Math.round(Math.log2(wanted));
  if (level > MAX_LEVEL) {
    if (wanted <= wholePxPerFrame()) { fit(); return; }
    state.level = MAX_LEVEL;
    state.scale = wanted / 2 ** MAX_LEVEL;
  } else {
    state.level = clampLevel(level);
    state.scale = 1;
  }
  centreOn(middle);
}

/** Milliseconds before a request the server did not answer (no connection) is made again. */
const UNREACHABLE_RETRY_MS = 1000;

/** Milliseconds a 503 or 429 asks to wait (its Retry-After, at least 1 s), or null for other answers. */
function retryAfter(res: Response): number | null {
  if (res.status !== 503 && res.status !== 429) return null;
  return 1000 * Math.max(1, Number(res.headers.get("retry-after")) || 1);
}

// ---------------------------------------------------------------------------------------------
// Tiles

/** A tile's URL, carrying the recording's revision: a new one after a change of the recording's file, time expansion or engine, so the browser never shows a tile cached before it. */
function tileUrl(rec: Recording, z: number, x: number, format: "png" | "f32", query = state.query): string {
  return `/v1/recordings/${rec.id}/tiles/${z}/${x}.${format}?revision=${rec.revision}&${query}`;
}

const width = () => Number(new URLSearchParams(state.query).get("width") ?? DEFAULTS.width);
const zoomOf = (level: number) => Math.max(0, -level);
/** CSS pixels per frame of the view: its level's, times its display scale. */
const pxPerFrame = () => 2 ** state.level * state.scale;
/** Frames of one tile at the current level: its columns times 2^z frames per column. */
const tileSpanFrames = () => width() * 2 ** zoomOf(state.level);

/** Tiles currently in the plot, by URL. */
const tiles = new Map<string, HTMLImageElement>();
/**
 * The tiles of the view before a zoom, drawn scaled under the new level's tiles until those have
 * loaded, as map viewers do: the plot went blank at every zoom step until the new tiles arrived.
 * Only ever tiles of the current parameters: a change of them (or of recording) clears these too.
 */
const placeholders = new Set<HTMLImageElement>();
/** URLs of the tiles whose last fetch failed, until they load or leave the view. */
const failedTiles = new Set<string>();

function removeTile(img: HTMLImageElement) {
  URL.revokeObjectURL(img.src);
  img.remove();
}

function clearTiles() {
  for (const img of tiles.values()) removeTile(img);
  tiles.clear();
  clearPlaceholders();
  failedTiles.clear();
}

function clearPlaceholders() {
  for (const img of placeholders) removeTile(img);
  placeholders.clear();
}

/**
 * The frames [first, end) a tile shows: its column range times the frames per column of its zoom
 * (the last tile is narrower: a loaded one's width is its image's; one still loading is taken whole).
 */
function tileFrames(img: HTMLImageElement): [number, number] {
  const perColumn = 2 ** Number(img.dataset.z), first = Number(img.dataset.x) * width() * perColumn;
  return [first, first + (img.dataset.loaded ? img.naturalWidth : width()) * perColumn];
}

/**
 * Places a tile (or a placeholder of another level) over the frames it shows, at the current zoom,
 * its edges on whole pixels: neighbours share an edge, with no gap or overlap at any scale.
 * Returns its left and right edges in plot pixels.
 */
function placeTile(img: HTMLImageElement): [number, number] {
  const [f0, f1] = tileFrames(img), ppf = pxPerFrame();
  const left = Math.round(f0 * ppf) - state.originPx, right = Math.round(f1 * ppf) - state.originPx;
  img.style.left = `${left}px`;
  img.style.width = `${right - left}px`;
  return [left, right];
}

/** Places the placeholders at the current zoom, dropping those out of the plot. */
function placePlaceholders() {
  const w = $("plot").clientWidth;
  for (const img of placeholders) {
    const [left, right] = placeTile(img);
    if (right <= 0 || left >= w) { removeTile(img); placeholders.delete(img); }
  }
}

/** Once the current level's tiles that overlap the plot have all loaded, its placeholders go. */
function dropPlaceholdersIfCovered() {
  if (!placeholders.size) return;
  const w = $("plot").clientWidth;
  for (const img of tiles.values()) {
    const [left, right] = placeTile(img);
    if (!img.dataset.loaded && left < w && right > 0) return;
  }
  clearPlaceholders();
}

/** A failed tile loaded or left the view: the last one takes the failure off the status line. */
function forgetTileFailure(url: string) {
  failedTiles.delete(url);
  if (failedTiles.size === 0 && state.tileFailureShown) setStatus("");
}

/**
 * Places the tiles that cover the plot plus one plot width of margin on each side, loads the
 * missing ones and drops the rest. Tiles are fetched (with the token, if any) rather than
 * pointed to, so servers that need a token for reads work too; the browser's HTTP cache still
 * serves repeated URLs, which carry the recording's revision and are immutable.
 */
function render() {
  const rec = state.recording, g = state.geometry;
  if (!rec || !g) return;
  const plot = $("plot");
  const z = zoomOf(state.level);
  const spanPx = tileSpanFrames() * pxPerFrame();
  const count = Math.ceil(g.frames / tileSpanFrames());
  const margin = plot.clientWidth;
  drawnWidth = plot.clientWidth;
  const x0 = Math.max(0, Math.floor((state.originPx - margin) / spanPx));
  const x1 = Math.min(count - 1, Math.floor((state.originPx + plot.clientWidth + margin) / spanPx));
  const wanted = new Set<string>();
  for (let x = x0; x <= x1; x++) {
    const url = tileUrl(rec, z, x, "png");
    wanted.add(url);
    let img = tiles.get(url);
    if (!img) {
      img = document.createElement("img");
      img.dataset.z = String(z);
      img.dataset.x = String(x);
      img.dataset.src = url;
      img.alt = ""; // the plot is named; its tiles are its pixels (a screen reader read out "tile 7/0, tile 7/1")
      tiles.set(url, img);
      $("tiles").append(img);
      void loadTile(img, url);
    }
    placeTile(img);
  }
  for (const [url, img] of tiles) {
    if (wanted.has(url)) continue;
    tiles.delete(url);
    // A tile of the view zoomed from stays, scaled, until the new level's tiles cover the plot.
    if (img.dataset.loaded && Number(img.dataset.z) !== z) {
      placeholders.add(img);
      $("placeholders").append(img);
    } else removeTile(img);
  }
  placePlaceholders();
  dropPlaceholdersIfCovered();
  for (const url of failedTiles) if (!wanted.has(url)) forgetTileFailure(url);
  drawAxes();
  drawClips();
  drawSelection();
  scheduleClipFetch();
  drawMarker();
  linkUpdates.later(writeLink);
}

/**
 * Fetches a tile into its image. One that fails is taken out of the plot, so that the next
 * render asks again (it stayed an empty gap for good); a 503 or 429 renders again after its
 * Retry-After.
 */
async function loadTile(img: HTMLImageElement, url: string) {
  const res = await fetch(url, { headers: authHeaders() }).catch(() => null);
  if (!tiles.has(url)) return;
  if (!res?.ok) {
    const message = res ? ((await res.json().catch(() => ({}))) as ApiError).message ?? `tile failed: ${res.status}` : "the server cannot be reached: a tile did not load";
    if (!tiles.has(url)) return; // dropped (another recording, new parameters) while its answer was read
    tiles.delete(url);
    img.remove();
    setStatus(message, true);
    state.tileFailureShown = true;
    failedTiles.add(url);
    const retry = res ? retryAfter(res) : UNREACHABLE_RETRY_MS;
    if (retry !== null) setTimeout(render, retry);
    return;
  }
  img.onload = () => {
    img.dataset.loaded = "true";
    placeTile(img); // its own width: the last tile is narrower
    forgetTileFailure(url);
    dropPlaceholdersIfCovered();
  };
  img.src = URL.createObjectURL(await res.blob());
}

// ---------------------------------------------------------------------------------------------
// Coordinates and axes

/** Seconds (real time) at plot pixel p: frame i is centred at i · hop (SPEC §3.5). */
function timeAt(p: number): number {
  return ((p + state.originPx) / pxPerFrame() - 0.5) * state.geometry!.hopSeconds;
}
function pixelOf(t: number): number {
  return (t / state.geometry!.hopSeconds + 0.5) * pxPerFrame() - state.originPx;
}
/**
 * The frequencies at the plot's bottom and top edges: the band's first and last bins are centred
 * half a bin inside them (x-frequency-range gives the centres). Mapping the centres onto the edges
 * put labels and read-outs up to half a row off — a whole 10 kHz bin in a 10-row plot.
 */
function plotBand(): [number, number] {
  const g = state.geometry!;
  return [g.fLow - g.binHz / 2, g.fHigh + g.binHz / 2];
}
/** Hz at plot pixel row y (top = highest frequency). */
function frequencyAt(y: number): number {
  const [bottom, top] = plotBand(), h = $("plot").clientHeight;
  return top - (y / h) * (top - bottom);
}
/** Plot pixel row of f Hz: the inverse of frequencyAt. */
function rowOf(f: number): number {
  const [bottom, top] = plotBand();
  return ((top - f) / (top - bottom)) * $("plot").clientHeight;
}

/** Seconds from which the time axis reads h:mm:ss (hour 9 read "32402.85 s"). */
const HOUR = 3600;
/** Steps of a clock axis of a second or more: those a clock reads (1, 2, 5 × 10^k gave 0:08:20, 0:16:40 …). */
const CLOCK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** `t` seconds as h:mm:ss with `digits` decimals (1:52:30.5), rounded once: 59.96 s at one decimal reads 0:01:00.0, not 0:00:60.0. */
function clockTime(t: number, digits: number): string {
  const unit = 10 ** digits, scaled = Math.round(Math.abs(t) * unit);
  const whole = Math.floor(scaled / unit), fraction = scaled % unit;
  const two = (n: number) => String(n).padStart(2, "0");
  const clock = `${Math.floor(whole / 3600)}:${two(Math.floor(whole / 60) % 60)}:${two(whole % 60)}`;
  return `${t < 0 && scaled > 0 ? "-" : ""}${clock}${digits ? `.${String(fraction).padStart(digits, "0")}` : ""}`;
}

/** A time as the page says it outside the axis: h:mm:ss to the millisecond (trailing zeros dropped) from an hour on, else seconds (2.5 s). */
function timeText(t: number): string {
  return t >= HOUR ? clockTime(t, 3).replace(/\.?0+$/, "") : `${+t.toFixed(3)} s`;
}

/** A recording's duration: h:mm:ss from an hour on (timeText; "4000.00 s" read poorly), else seconds to two decimals. */
function durationText(d: number): string {
  return d >= HOUR ? timeText(d) : `${d.toFixed(2)} s`;
}

/** A step of 1, 2 or 5 × 10^k giving ticks at least `minPx` apart. */
function niceStep(unitsPerPx: number, minPx: number): number {
  const raw = unitsPerPx * minPx;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

function drawAxes() {
  const g = state.geometry!, plot = $("plot");
  const taxis = $("taxis"), faxis = $("faxis");
  taxis.replaceChildren();
  faxis.replaceChildren();
  const w = plot.clientWidth, h = plot.clientHeight;
  const secPerPx = g.hopSeconds / pxPerFrame();
  // A recording of an hour or more reads h:mm:ss throughout; a shorter one from the hour on, if it
  // reaches it. Clock labels go by the steps a clock reads, down to a second.
  const wholeClock = state.recording!.duration >= HOUR, clock = wholeClock || timeAt(w) >= HOUR;
  const nice = niceStep(secPerPx, 80);
  const dt = clock && nice >= 1 ? CLOCK_STEPS.find((s) => s >= secPerPx * 80) ?? nice : nice;
  const digits = Math.max(0, -Math.floor(Math.log10(dt)));
  // Counted in steps, not summed: 0.1 added 30 times is not 3.
  for (let k = Math.ceil(timeAt(0) / dt); k * dt <= timeAt(w); k++) {
    const t = k * dt, s = document.createElement("span");
    s.style.left = `${pixelOf(t)}px`;
    s.textContent = wholeClock || t >= HOUR ? clockTime(t, digits) : `${t.toFixed(digits)} s`;
    taxis.append(s);
  }
  const [bottom, top] = plotBand().map((f) => f / 1000);
  const kHzPerPx = (top - bottom) / h;
  const df = niceStep(kHzPerPx, 40);
  for (let f = Math.ceil(Math.max(0, bottom) / df) * df; f <= top; f += df) {
    const s = document.createElement("span");
    s.style.top = `${((top - f) / kHzPerPx)}px`;
    s.textContent = `${+f.toFixed(3)} kHz`;
    faxis.append(s);
  }
  $("plot").dataset.view = JSON.stringify({ z: zoomOf(state.level), level: state.level, scale: state.scale, start: timeAt(0), end: timeAt(w) });
}

// ---------------------------------------------------------------------------------------------
// Zoom and pan

/** CSS pixels per frame that put the whole recording across the plot: the view Fit shows. */
const wholePxPerFrame = () => $("plot").clientWidth / state.geometry!.frames;

/**
 * The farthest zoom level out: the closest whole level that shows the whole recording at scale 1 —
 * Fit's own level, or the one past it where Fit rounds up and draws its level scaled down. Zooming
 * out went on to level −20: a 22.5 s recording filled 3.6 % of the plot at −6, and less at each step.
 */
const farthestLevel = () => Math.max(-MAX_ZOOM, Math.min(MAX_LEVEL, Math.floor(Math.log2(wholePxPerFrame()))));

/** The zoom level nearest `level` that the tile pyramid and the page draw: from the whole recording's (farthestLevel) to MAX_LEVEL. */
const clampLevel = (level: number) => Math.max(farthestLevel(), Math.min(MAX_LEVEL, level));

/**
 * Zooms one level in (+1) or out (−1), keeping the time under plot pixel `anchor` where it is: to
 * the next whole level on that side of the view's, drawn at scale 1 — from a fitted view (a
 * fractional level) the whole level closer in or farther out than it, whichever side of 1 its
 * scale is (zoom in from a scale of 0.86 went two levels' worth in, skipping the level beside, as
 * zoom out did from a scale above 1). None past the closest or farthest level.
 */
function zoomStep(direction: 1 | -1, anchor = $("plot").clientWidth / 2) {
  const now = Math.log2(pxPerFrame());
  const level = clampLevel(direction === 1 ? Math.floor(now) + 1 : Math.ceil(now) - 1);
  if (direction * (level - now) <= 0) return;
  zoomTo(level, anchor);
}

/** Shows whole level `level` at scale 1, keeping the time under plot pixel `anchor` where it is as far as a pan may. */
function zoomTo(level: number, anchor: number) {
  const frame = (anchor + state.exactOriginPx) / pxPerFrame();
  state.level = level;
  state.scale = 1;
  panTo(frame * pxPerFrame() - anchor); // clamped as a pan is: zoomed near an end, the plot left the recording
}

/**
 * Moves the view origin, keeping at least half the plot on the recording — at the farthest level
 * (unscaled, the whole recording within the plot) all of it: zoomed out from a view near its end
 * to the farthest level, the first 33 s of a 120 s recording were left out of view. A fitted view
 * pans as a closer one does (past the recording's ends, to read or select near them).
 */
function panTo(originPx: number) {
  const w = $("plot").clientWidth, end = state.geometry!.frames * pxPerFrame();
  const [first, last] = state.scale === 1 && end <= w ? [end - w, 0] : [-w / 2, end - w / 2];
  state.exactOriginPx = Math.max(first, Math.min(last, originPx));
  state.originPx = Math.round(state.exactOriginPx);
  render();
}

/** The plot's width when the view was last drawn: a resize keeps the time at its middle then. */
let drawnWidth = 0;

/**
 * The view fitted to the plot's width now, after the window's was changed: the time at the
 * plot's middle stays there, as a zoom keeps it (the left edge stayed, and the middle moved by half
 * the change); a plot grown wider raises a level farther out than the whole recording's
 * (farthestLevel) to it — the view stayed where it was, the recording filling less than half the
 * plot — and the origin is clamped as a pan's.
 */
function clampToPlot() {
  const middleFrame = (drawnWidth / 2 + state.exactOriginPx) / pxPerFrame();
  const farthest = farthestLevel();
  if (Math.log2(pxPerFrame()) < farthest) {
    state.level = farthest;
    state.scale = 1;
  }
  panTo(middleFrame * pxPerFrame() - $("plot").clientWidth / 2);
}

/** Puts time t (s) at the plot's middle, at the current level. */
function centreOn(t: number) {
  panTo(pixelOf(t) + state.originPx - $("plot").clientWidth / 2);
}

/**
 * Seconds of a time typed as seconds (3725.5) or as h:mm:ss or m:ss (1:02:05.5, 2:05), or null if
 * it is neither — minutes or seconds of 60 or more included.
 */
function parseTime(text: string): number | null {
  const s = text.trim();
  if (/^(\d+\.?\d*|\.\d+)$/.test(s)) return Number(s);
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$/.exec(s);
  if (!m || Number(m[2]) >= 60 || Number(m[3]) >= 60) return null;
  return 3600 * Number(m[1] ?? 0) + 60 * Number(m[2]) + Number(m[3]);
}

/**
 * Centres the view on the time typed in "go to time", at the zoom shown: there was no way to a
 * time but wheel steps or the address's `t`. One that is no time, or outside the recording, is
 * refused on the status line naming the field, the field marked invalid, the view kept.
 */
function goToTime() {
  const input = $<HTMLInputElement>("goto"), rec = state.recording;
  if (!rec || !state.geometry) return;
  const t = parseTime(input.value);
  const why = t === null ? "is not a time: give seconds (3725.5) or h:mm:ss (1:02:05.5)"
    : t > rec.duration ? `is past the recording's end (${timeText(rec.duration)})` : null;
  input.setAttribute("aria-invalid", String(why !== null));
  if (why !== null) return setStatus(`go to time: "${input.value.trim()}" ${why}`, true);
  setStatus("");
  centreOn(t!);
}

/**
 * Shows a link's view: its time at the plot's middle at its zoom level, or the whole recording
 * (fit). A level farther out than the whole recording's (farthestLevel) is raised to it, as the
 * status line says.
 */
function showView(view: LinkedView | "whole") {
  if (view === "whole") return fit();
  const farthest = farthestLevel();
  if (view.level < farthest) setStatus(`the link's level "${view.level}" was raised to ${farthest}: a level farther out shows more than the whole recording`, true);
  const level = Math.max(farthest, view.level);
  // A fitted view's link has a fractional level: the nearest whole one at the scale that makes it.
  state.level = clampLevel(Math.round(level));
  state.scale = 2 ** (level - state.level);
  centreOn(view.t);
}

/**
 * The whole recording across the plot, from its start: the nearest level, scaled to fill the plot
 * exactly (whole levels left up to half of it empty, 60 % for a 1 s recording). Past the farthest
 * level a recording too long to fit is drawn at scale 1 from its start, as before.
 */
function fit() {
  const exact = wholePxPerFrame();
  state.level = clampLevel(Math.round(Math.log2(exact)));
  state.scale = Math.max(exact / 2 ** state.level, state.level === -MAX_ZOOM ? 1 : 0);
  state.originPx = state.exactOriginPx = 0;
  render();
}

// ---------------------------------------------------------------------------------------------
// Clips in view: fetched for the visible window plus a margin, again when the view leaves it

/** Clips asked per request: a window holding more follows the pages. */
const CLIP_PAGE = 200;
/** Most clips fetched and drawn for one window (5 pages): past it a note says how many in view are not drawn. */
const MAX_CLIPS_DRAWN = 1000;
/** Milliseconds the view must rest before its clips are fetched: a drag or a burst of wheel steps asks once. */
const CLIP_FETCH_DELAY_MS = 150;

/** The clips fetched, sorted by start time, and their boxes in the plot by clip id. */
let clips: Clip[] = [];
const clipBoxes = new Map<string, HTMLDivElement>();
/**
 * What the clips fetched cover: the window [t0, t1) (s); the view they were fetched for (its
 * visible range, s, and zoom level); and `inView`, the clips in that visible range by the
 * server's count when MAX_CLIPS_DRAWN cut the window short (null: every clip of it was fetched).
 * Null until a fetch ends.
 */
let clipWindow: { t0: number; t1: number; view: { start: number; end: number; level: number }; inView: number | null } | null = null;
/** The clip fetch in flight and the one waiting for the view to rest: a newer view's (or recording's) answer must never be overwritten by an older one. */
const clipRequests = new LatestRequest(CLIP_FETCH_DELAY_MS);

/** The visible time range, s. */
const visibleRange = (): [number, number] => [timeAt(0), timeAt($("plot").clientWidth)];

/** Clips overlapping [t0, t1): the list's own half-open rule (GET /v1/clips end_after/start_before). */
const overlapping = (c: Clip, t0: number, t1: number) => c.start_time < t1 && c.end_time > t0;

/**
 * The window whose clips the page fetches: the visible range plus one plot width either side
 * (the tiles' margin), so that a pan shows the clips beside at once.
 */
function wantedClipWindow(): [number, number] {
  const w = $("plot").clientWidth;
  return [timeAt(-w), timeAt(2 * w)];
}

/**
 * Whether the clips fetched serve the view. A window the cap cut short serves only the view it
 * was fetched for: any other may hold clips it left out (a render that did not move the view — a
 * pan stopped at the recording's edge, a window made taller — fetched its 1000 clips again).
 * A whole window serves a view inside it, while it is less than twice the window wanted: zoomed
 * in from a wider view, the page keeps the clips near what it shows, not an hour of them off-screen.
 */
function clipWindowServes(): boolean {
  const w = clipWindow, [a, b] = visibleRange(), [t0, t1] = wantedClipWindow();
  if (w === null) return false;
  if (w.inView !== null) return w.view.start === a && w.view.end === b && w.view.level === state.level;
  return w.t0 <= a && b <= w.t1 && w.t1 - w.t0 < 2 * (t1 - t0);
}

/** Called on every render: once the view rests, lists the clips in view, fetching them first unless the clips fetched serve it. */
function scheduleClipFetch() {
  clipRequests.later(() => {
    if (!state.geometry) return;
    if (clipWindowServes()) listClips(clipWindow!.inView);
    else void fetchClips();
  });
}

/**
 * Fetches every clip overlapping the wanted window, page after page up to MAX_CLIPS_DRAWN, and
 * draws and lists them. Aborts the fetch still in flight. When the cap cuts the window short, a
 * request of one clip for the visible range alone gives how many are in view (its `total`).
 */
async function fetchClips() {
  const rec = state.recording;
  if (!rec || !state.geometry) return;
  const signal = clipRequests.start(); // this fetch is for the current view: the one scheduled would repeat it
  const [t0, t1] = wantedClipWindow();
  const [a, b] = visibleRange(), level = state.level;
  // Under a read-only recording, those archived or trashed of their own before it are not its clips
  // as it was left, as they are not an active recording's: own_state leaves them out of the pages
  // and of the count in view alike (filtered here, they were counted, and took places of the cap).
  const listUrl = (from: number, to: number, limit: number, cursor: string | null) =>
    `/v1/clips?recording_id=${rec.id}&state=${clipListingState(rec, state.dataset)}&own_state=active&end_after=${from}&start_before=${to}&sort=start_time&order=asc&limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
  try {
    // Paged by cursor: each page begins after the last clip of the one before, so a clip another
    // client creates or deletes meanwhile shifts none (by offset, one deleted before a page skipped
    // a clip of it, one created repeated one).
    const fetched: Clip[] = [];
    let cursor: string | null = null;
    do {
      const page: KeysetPage<Clip> = await api<KeysetPage<Clip>>(listUrl(t0, t1, Math.min(CLIP_PAGE, MAX_CLIPS_DRAWN - fetched.length), cursor), { signal });
      fetched.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null && fetched.length < MAX_CLIPS_DRAWN);
    const inView = cursor === null ? null : (await api<Page<Clip>>(listUrl(a, b, 1, null), { signal })).total;
    setClips(fetched, { t0, t1, view: { start: a, end: b, level }, inView });
    listClips(inView);
  } catch (err) {
    if (signal.aborted) return;
    setStatus(`the recording's clips cannot be listed: ${(err as Error).message}`, true);
  }
}

/** Takes the previous recording's clips off the plot and the list, its fetch in flight aborted. */
function forgetClips() {
  clipRequests.cancel();
  clipPanel.close(false);
  setClips([], null);
  $("clip-list").replaceChildren();
  $("clip-count").textContent = "";
  delete $("clip-count").dataset.count; // the previous recording's, until this one's are listed
  $("clip-note").hidden = true;
}

/** Replaces the clips drawn by `fetched` (sorted by start time), covering `window`, or forgets them all (another recording). */
function setClips(fetched: Clip[], window: typeof clipWindow) {
  clips = fetched;
  clipWindow = window;
  for (const box of clipBoxes.values()) box.remove();
  clipBoxes.clear();
  const layer = $("clips");
  for (const c of clips) {
    const d = document.createElement("div");
    d.dataset.clipId = c.id;
    d.dataset.start = String(c.start_time);
    d.dataset.end = String(c.end_time);
    d.title = `clip ${bounds(c, state.recording)}`;
    d.classList.toggle("selected", c.id === clipPanel.selectedId);
    clipBoxes.set(c.id, d);
    layer.append(d);
  }
  drawClips();
}

/**
 * A clip created or changed on this page (its features computed): drawn and listed at once, in
 * start order, then the window fetched again so that the page agrees with the server.
 */
function putClip(c: Clip) {
  if (c.recording_id !== state.recording?.id) return; // another recording was opened meanwhile
  const others = clips.filter((o) => o.id !== c.id);
  const at = others.findIndex((o) => o.start_time > c.start_time);
  others.splice(at < 0 ? others.length : at, 0, c);
  setClips(others, clipWindow);
  listClips(null);
  void fetchClips();
}

/**
 * Places the clips' boxes at the current zoom and pan: a clip with frequency bounds over its band
 * (clamped to the plot's, fmin–fmax; a band wholly outside it is a line at the plot's edge), one
 * without over the plot's height.
 */
function drawClips() {
  if (!state.geometry) return;
  const h = $("plot").clientHeight;
  const row = (f: number | null, none: number) => (f === null ? none : Math.max(0, Math.min(h, rowOf(f))));
  for (const c of clips) {
    const d = clipBoxes.get(c.id)!;
    d.style.left = `${pixelOf(c.start_time)}px`;
    d.style.width = `${pixelOf(c.end_time) - pixelOf(c.start_time)}px`;
    d.style.top = `${row(c.high_freq, 0)}px`;
    d.style.bottom = `${h - row(c.low_freq, h)}px`;
  }
}

/**
 * Lists the clips drawn that overlap the visible range (each selects its clip: its features and
 * panel) under a count of the clips in view. `inView`: the clips in view by the server's count,
 * when MAX_CLIPS_DRAWN left some of them unfetched (null: every one was fetched); then a note
 * under the plot says how many are not drawn.
 */
function listClips(inView: number | null) {
  if (!state.geometry) return;
  const [a, b] = visibleRange();
  const shown = clips.filter((c) => overlapping(c, a, b));
  const count = inView ?? shown.length;
  $("clip-count").textContent = `(${count})`;
  $("clip-count").dataset.count = String(count);
  const note = $("clip-note");
  note.hidden = inView === null || inView <= shown.length;
  note.textContent = note.hidden ? "" : `${inView! - shown.length} more clips in view not drawn: at most ${MAX_CLIPS_DRAWN} are drawn at a time, zoom in to see them.`;
  clipPanel.list(shown);
}

// ---------------------------------------------------------------------------------------------
// Read-out, a clip's features, playback

/** Time, frequency and the tile's float32 value under plot pixel (px, py). */
async function readout(px: number, py: number) {
  const rec = state.recording!, g = state.geometry!;
  const z = zoomOf(state.level), W = width();
  const abs = px + state.originPx;
  const tileColumn = Math.floor(abs / pxPerFrame() / 2 ** z); // among all the level's columns
  const x = Math.floor(tileColumn / W), column = tileColumn - x * W;
  const row = Math.min(g.rows - 1, Math.floor(((($("plot").clientHeight - py) / $("plot").clientHeight)) * g.rows));
  const t = timeAt(px), f = frequencyAt(py);
  state.readoutAt = { t, f };
  drawMarker();
  const out = $("readout");
  const where = `t = ${t.toFixed(4)} s, f = ${(f / 1000).toFixed(2)} kHz`;
  // Pixel p shows frame ⌊(p + origin) / 2^level⌋ (timeAt); left of the first frame or right of the
  // last there is nothing to read — it said "value = NaN dB", or "no value: 400" for a tile past the end.
  const frame = Math.floor(abs / pxPerFrame());
  if (frame < 0 || frame >= g.frames) {
    out.textContent = `${where}: outside the recording (0–${rec.duration.toFixed(2)} s), no value`;
    delete out.dataset.value;
    return;
  }
  out.textContent = `${where}, value …`;
  const res = await fetch(tileUrl(rec, z, x, "f32"), { headers: authHeaders() });
  if (!res.ok) { out.textContent = `${where} (no value: ${res.status})`; return; }
  const [rows, columns] = res.headers.get("x-shape")!.split(",").map(Number);
  const values = new Float32Array(await res.arrayBuffer());
  const v = column < columns ? values[row * columns + column] : NaN;
  const scale = res.headers.get("x-value-scale");
  // dB to hundredths; power and amplitude span decades (1e-10 … 1): significant digits.
  const shown = scale === "dB" || !Number.isFinite(v) ? v.toFixed(2) : v.toPrecision(4);
  out.textContent = `${where}, value = ${shown} ${scale} (tile ${z}/${x}, row ${row}/${rows}, column ${column})`;
  out.dataset.value = String(v);
}

/** Puts the read-out's marker on the time and frequency it read (it stayed on its pixel, over other ones, when the view moved). */
function drawMarker() {
  const marker = $("marker"), at = state.readoutAt;
  marker.hidden = !at || !state.geometry;
  if (at && state.geometry) Object.assign(marker.style, { left: `${pixelOf(at.t)}px`, top: `${rowOf(at.f)}px` });
}

/** Shows a clip: its bounds, id and feature values, and a line for the progress of their computation. */
function showClip(c: Clip, note = "") {
  const info = $("clip-info");
  const features = c.features.length ? featureTable(c.features) : el("p", "", "No features yet.");
  const progress = el("p", "", "");
  progress.id = "clip-job";
  info.replaceChildren(el("h2", "", `Clip ${bounds(c, state.recording)} ${note}`), el("code", "", c.id), features, progress);
  info.dataset.clipId = c.id;
  select(c.start_time, c.end_time, c.id); // "Play selection" plays the clip shown, "Clip selection" selects it
}

/** Selects [min(a, b), max(a, b)] of real seconds, within the recording: the range of clip `clipId`, or of none. */
function select(a: number, b: number, clipId: string | null = null) {
  const duration = state.recording!.duration;
  state.selection = { start: Math.max(0, Math.min(a, b)), end: Math.min(duration, Math.max(a, b)), clipId };
  drawSelection();
}

/**
 * Marks the selection's start or end at the plot's middle, the keyboard's cursor (a keyboard
 * could not draw a clip: only a shift-drag did). A start after the end marked (or an end before
 * the start) starts a new selection there.
 */
function markSelection(edge: "start" | "end") {
  const t = Math.max(0, Math.min(state.recording!.duration, timeAt($("plot").clientWidth / 2)));
  const s = state.selection;
  if (edge === "start") state.selection = { start: t, end: s?.end !== null && s !== null && s.end > t ? s.end : null, clipId: null };
  else if (s && s.start < t) state.selection = { start: s.start, end: t, clipId: null };
  else state.selection = { start: t, end: null, clipId: null };
  drawSelection();
}

/** The selection's time range, if both its ends are marked and it spans time. */
function selectedRange(): [number, number] | null {
  const s = state.selection;
  return s && s.end !== null && s.end > s.start ? [s.start, s.end] : null;
}

/** Draws the selection over the plot (a line at its start while its end is not marked) and enables what acts on it. */
function drawSelection() {
  const box = $("selection"), s = state.selection;
  box.hidden = !s || !state.geometry;
  if (s && state.geometry) {
    const left = pixelOf(s.start);
    Object.assign(box.style, { left: `${left}px`, width: `${s.end === null ? 0 : pixelOf(s.end) - left}px` });
    box.dataset.start = String(s.start);
    box.dataset.end = String(s.end ?? "");
  }
  const range = selectedRange();
  $<HTMLButtonElement>("play-selection").disabled = !range;
  offerClipCreation();
  $("selection-range").textContent = range ? timeRangeText(range[0], range[1], state.recording) : s ? `from ${s.start.toFixed(4)} s (mark its end with ])` : "";
}

/**
 * Why no clip may be created in the open recording or imported into it, null if they may: a
 * read-only recording (whyReadOnly) refuses them (409), and a clip is a member's or an admin's to make
 * (401 without a token, 403 for a viewer's) — the page offered Clip selection and Import to everyone.
 * A token whose user is not known yet is let try: the server answers.
 */
function whyNoClips(): string | null {
  if (state.readOnly) return `${state.readOnly}: read-only, no clip is created or imported in it`;
  if (!token()) return "Creating or importing clips needs an API token (top right)";
  if (user && !mayWrite(user)) return `${viewerOnly(user)} to create or import clips`;
  return null;
}

/** Enables button `id` — its title (index.html's) saying what it does — when `usable`, or disables it, `why` as its title when that is the reason. */
function offer(id: string, why: string | null, usable = true) {
  const button = $<HTMLButtonElement>(id);
  button.dataset.title ??= button.title;
  button.disabled = why !== null || !usable;
  button.title = why ?? button.dataset.title;
}

/** Offers Clip selection (once there is a selection, and no clip of it is being created) and Import selections… to whom whyNoClips lets create clips. */
function offerClipCreation() {
  const why = whyNoClips();
  offer("clip-selection", why, selectedRange() !== null && !state.clipping);
  offer("import-selections", why);
}

/**
 * A clip of the selection, no frequency bounds (the keyboard draws no band) — unless the selection
 * is a clip's range (a box just drawn, a clip clicked), which selects that clip, band and all:
 * taken for "confirm the box drawn", the button doubled every box with a time-only twin, each with
 * its own features job. `wholeBand` (Shift) makes that twin on purpose. None while the previous one
 * is being created: Enter pressed twice or held made a duplicate at each.
 */
async function clipSelection(wholeBand: boolean) {
  const range = selectedRange();
  if (!range || state.clipping) return;
  state.clipping = true;
  drawSelection();
  try {
    await createClip(range[0], range[1], null, wholeBand ? null : state.selection!.clipId);
  } finally {
    state.clipping = false;
    drawSelection();
  }
}

/** Replaces the clip shown (if any) by `content`; a job still computing its features stops showing progress. */
function showInClipInfo(...content: Node[]) {
  const info = $("clip-info");
  info.replaceChildren(...content);
  delete info.dataset.clipId;
}

/**
 * The recording's clip of range [start, end] (s) and `band` (none: a time-only clip), or clip
 * `madeFrom` whatever its band, if it has one (sameClipRange and sameClipBand: the rule an import
 * goes by), asked of the server: the clips fetched are those near the view only.
 */
async function clipOfRange(start: number, end: number, band: Band | null, madeFrom: string | null): Promise<Clip | null> {
  const query = new URLSearchParams({ recording_id: state.recording!.id, end_after: String(end - TIME_TOLERANCE), start_before: String(start + TIME_TOLERANCE), limit: "1000" });
  const page = await api<{ items: Clip[] }>(`/v1/clips?${query}`);
  return page.items.find((c) => sameClipRange(c, { start_time: start, end_time: end }) && (c.id === madeFrom || sameClipBand(c, band ?? { low_freq: null, high_freq: null }))) ?? null;
}

/**
 * Creates the clip of [t0, t1] — a box over `band` (its frequency bounds) if given — and opens the
 * panel on it, to tag it at once (the focus stays where it is: Enter on the plot, pressed again
 * over a new selection, makes the next clip). A range and band the recording has a clip of already
 * (a clip selected puts its range in the selection, and Enter then made its twin), or the range of
 * clip `madeFrom` (the selection's clip, whose band the selection has not), creates none: that
 * clip is selected, and the status line says so.
 */
async function createClip(t0: number, t1: number, band: Band | null, madeFrom: string | null = null) {
  const why = whyNoClips();
  if (why) { showInClipInfo(el("p", "error", `${why}.`)); return; }
  let clip: Clip;
  try {
    const start = Math.max(0, Math.min(t0, t1)), end = Math.min(state.recording!.duration, Math.max(t0, t1));
    const existing = await clipOfRange(start, end, band, madeFrom);
    if (existing) {
      setStatus(`no clip created: the recording has the clip ${bounds(existing, state.recording)} already — selected`);
      void clipPanel.open(existing.id, $("plot"));
      return;
    }
    clip = await api<Clip>("/v1/clips", { method: "POST", body: JSON.stringify({ recording_id: state.recording!.id, start_time: start, end_time: end, ...band }) });
  } catch (err) {
    showInClipInfo(el("p", "error", `clip not created: ${(err as Error).message}`));
    if ((err as Partial<ApiFailure>).status === 409) void recheckReadOnly(); // archived elsewhere, perhaps: Clip selection goes, saying why
    return;
  }
  const note = band ? `(created; features of ${(band.low_freq / 1000).toFixed(1)}–${(band.high_freq / 1000).toFixed(1)} kHz)` : "(created)";
  showClip(clip, note);
  putClip(clip);
  void clipPanel.open(clip.id, $("plot"), false); // shown above with its note: the panel only
  void extractClipFeatures(clip, band, note); // the clip is created: its features are computed on
}

/** The panel's spectrogram parameters (SPEC §2, without the tile options): those of the clip's features. */
function spectrogramParams(): Record<string, string> {
  return Object.fromEntries([...panelQuery()].filter(([name]) => (PARAM_NAMES as string[]).includes(name)));
}

/** Seconds a job may stay pending before the page suspects that no worker runs. */
const NO_WORKER_HINT_S = 5;

/**
 * Gets a new clip's features computed and shown: an extract_features job for the clip (the
 * panel's parameters, the box's band if it has one — "clip" for a box moved: its own bounds, as
 * the worker reads them), polled until it ends. `sonotile serve`
 * runs jobs on its own worker unless started with --no-worker; then `sonotile worker`
 * processes do, and while none takes the job the page says so. Stops when another clip or
 * recording is shown.
 */
async function extractClipFeatures(clip: Clip, band: Band | "clip" | null, note: string) {
  const progress = () => $("clip-job");
  const stillShown = () => $("clip-info").dataset.clipId === clip.id;
  try {
    const data = { targets: { clip_ids: [clip.id] }, params: spectrogramParams(), ...(band ? { band } : {}) };
    let job = await api<Job>("/v1/jobs", { method: "POST", body: JSON.stringify({ task: "extract_features", data }) });
    const submitted = Date.now();
    while (job.status === "pending" || job.status === "running") {
      if (!stillShown()) return;
      const waited = (Date.now() - submitted) / 1000;
      progress().textContent = job.status === "running" || waited < NO_WORKER_HINT_S
        ? `computing features (job ${job.status})…`
        : `waiting for a job worker to take job ${job.id}: is the server running with --no-worker? Then start 'sonotile worker'.`;
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await api<Job>(`/v1/jobs/${job.id}`);
    }
    if (!stillShown()) return;
    if (job.result !== "success") throw new Error(job.message ?? `job ${job.status}`);
    const computed = await api<Clip>(`/v1/clips/${clip.id}`);
    showClip(computed, note);
    putClip(computed);
  } catch (err) {
    if (!stillShown()) return;
    progress().textContent = `features not computed: ${(err as Error).message}`;
    progress().className = "error";
  }
}

/**
 * Plays the visible range: its audio fetched as a WAV (with the token: an <audio> element
 * cannot send one, and servers beyond loopback need it for every read) and played from a Blob.
 * A view longer than one playback request may hold plays its beginning. The WAV is at the
 * file's rate: time-expanded audio plays slowed down by the expansion, as intended, and
 * `speed` slows it further; real time is start + audio time / time_expansion.
 */
function playVisible() {
  void playRange(timeAt(0), timeAt($("plot").clientWidth), $<HTMLButtonElement>("play"), "the view");
}

/** Plays the selection (a drawn box, a clip opened, or marked with [ and ]), as the visible range plays. */
function playSelection() {
  const range = selectedRange();
  if (range) void playRange(range[0], range[1], $<HTMLButtonElement>("play-selection"), "the selection");
}

/**
 * Plays real seconds [from, to) of the recording (at most one playback request's worth from its
 * start), or pauses the audio playing. `what` names the range in the status line.
 */
async function playRange(from: number, to: number, button: HTMLButtonElement, what: string) {
  const rec = state.recording!, audio = $<HTMLAudioElement>("audio");
  if (playing()) { stopPlayback(); return; }
  const asked = ++playbacks;
  const start = Math.max(0, from);
  const longest = (MAX_PLAYBACK_SAMPLES / rec.channels - 1) / rec.samplerate;
  const end = Math.min(rec.duration, to, start + longest);
  // Playing from the fetch's start: Space, Escape and the button (enabled, "■ Stop") stop it while
  // it loads — they read the paused audio as nothing playing, and the press started another.
  loading = true;
  showPlaying(button);
  try {
    const res = await fetch(`/v1/recordings/${rec.id}/playback?start_time=${start}&end_time=${end}`, { headers: authHeaders() });
    if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as ApiError).message ?? res.statusText);
    if (state.recording !== rec || asked !== playbacks) return; // another recording opened, or stopped, meanwhile
    const [firstFrame] = res.headers.get("x-frame-range")!.split(",").map(Number);
    URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(await res.blob());
    applySpeed();
    // Slower is lower, as a time-expansion detector plays it: kept pitch (the browser's default)
    // left a 40 kHz call ultrasonic, hence silent, at 0.1×.
    audio.preservesPitch = false;
    await audio.play();
    loading = false;
    showPlaying(button); // shown since the fetch; again in case a pause event cleared it
    if (end < to && end < rec.duration) setStatus(`playing the first ${(end - start).toFixed(2)} s of ${what}: one request holds at most ${MAX_PLAYBACK_SAMPLES} samples`);
    followCursor(firstFrame / rec.samplerate);
  } catch (err) {
    // Stopped (or another playback asked) before it started: play() was refused by that pause, which is no failure.
    if (asked === playbacks) {
      setStatus(`cannot play: ${(err as Error).message}`, true);
      loading = false;
      showPlaying(null);
    }
  }
}

/** Whether a playback plays or is being fetched (`loading`): what Space, Escape and Play's second press stop. */
function playing(): boolean {
  return loading || !$<HTMLAudioElement>("audio").paused;
}

/** Plays the audio at the speed chosen: when it plays and whenever the choice changes (it waited for the next play). */
function applySpeed() {
  $<HTMLAudioElement>("audio").playbackRate = Number($<HTMLSelectElement>("rate").value);
}

/** Bumped by every playback asked for and every stop: a playback whose audio arrives after a stop (or a newer one) does not start. */
let playbacks = 0;
/** True from a playback's request until its audio plays, it fails or it is stopped: the audio is paused meanwhile. */
let loading = false;

/**
 * Stops what plays (Stop, Space or Escape, another recording opened, its time expansion changed):
 * the audio paused, the cursor gone, the buttons offering to play again — and a playback still
 * being fetched never starts.
 */
function stopPlayback() {
  playbacks++;
  loading = false;
  $<HTMLAudioElement>("audio").pause();
  $("cursor").hidden = true;
  showPlaying(null);
}

/**
 * Shows which of Play visible and Play selection plays (`button`; null: neither): it reads "■ Stop"
 * and is pressed (aria-pressed) until the audio stops — it kept its "▶ Play visible" while playing.
 */
function showPlaying(button: HTMLButtonElement | null) {
  for (const b of [$<HTMLButtonElement>("play"), $<HTMLButtonElement>("play-selection")]) {
    b.dataset.label ??= b.textContent!;
    b.textContent = b === button ? "■ Stop" : b.dataset.label;
    b.setAttribute("aria-pressed", String(b === button));
  }
}

/**
 * Moves the cursor with the audio, whose time 0 is real time `start`, until it stops or another
 * recording is opened — checked before the cursor is placed: the next recording has no geometry
 * yet, and placing it there threw at every frame, the cursor left over the new recording.
 */
function followCursor(start: number) {
  const audio = $<HTMLAudioElement>("audio"), cursor = $("cursor"), rec = state.recording!, te = rec.time_expansion;
  cursor.hidden = false;
  const tick = () => {
    if (audio.paused || audio.ended || state.recording !== rec || !state.geometry) {
      cursor.hidden = true;
      return;
    }
    cursor.style.left = `${pixelOf(start + audio.currentTime / te)}px`;
    requestAnimationFrame(tick);
  };
  tick();
}

// ---------------------------------------------------------------------------------------------
// Mouse: drag pans, shift-drag draws a clip box, a click reads a value, the wheel zooms.

/** Boxes flatter than this (CSS px) are a time range only: their clip has no frequency bounds, and gets the features of the whole band. */
const MIN_BAND_PX = 3;

/** What boxBand says of a box wholly above the recording's Nyquist frequency: it has no band a clip can have. */
const ABOVE_NYQUIST = "above Nyquist";

/**
 * The band of a box between plot rows y0 and y1 (clamped to the plot), or null for a flat one:
 * both edges clamped to [0, Nyquist] Hz, which the plot's edges pass by half a bin (plotBand), and
 * which a plot resampled above the recording's rate passes by far: a box wholly above it is
 * ABOVE_NYQUIST (its low edge would have been above its high one).
 */
function boxBand(y0: number, y1: number): Band | null | typeof ABOVE_NYQUIST {
  const h = $("plot").clientHeight;
  const [top, bottom] = [Math.min(y0, y1), Math.max(y0, y1)].map((y) => Math.max(0, Math.min(h, y)));
  if (bottom - top < MIN_BAND_PX) return null;
  const nyquist = state.recording!.samplerate / 2;
  const clamp = (f: number) => Math.max(0, Math.min(nyquist, f));
  const band = { low_freq: clamp(frequencyAt(bottom)), high_freq: clamp(frequencyAt(top)) };
  return band.low_freq < band.high_freq ? band : ABOVE_NYQUIST;
}

function bindPlot() {
  const plot = $("plot"), box = $("box");
  let drag: { x: number; y: number; originPx: number; shift: boolean; moved: boolean } | null = null;
  const local = (e: MouseEvent) => { const r = plot.getBoundingClientRect(); return { x: e.clientX - r.left, y: e.clientY - r.top }; };
  plot.addEventListener("mousedown", (e) => {
    if (!state.geometry) return;
    const p = local(e);
    drag = { ...p, originPx: state.originPx, shift: e.shiftKey, moved: false };
    plot.classList.toggle("dragging", !e.shiftKey);
  });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const p = local(e);
    if (Math.abs(p.x - drag.x) + Math.abs(p.y - drag.y) > 3) drag.moved = true;
    if (drag.shift) {
      Object.assign(box.style, { left: `${Math.min(p.x, drag.x)}px`, top: `${Math.min(p.y, drag.y)}px`, width: `${Math.abs(p.x - drag.x)}px`, height: `${Math.abs(p.y - drag.y)}px` });
      box.hidden = !drag.moved;
    } else if (drag.moved) {
      panTo(drag.originPx - (p.x - drag.x));
    }
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const d = drag, p = local(e);
    drag = null;
    plot.classList.remove("dragging");
    box.hidden = true;
    if (!d.moved) {
      void readout(p.x, p.y);
      clipPanel.openAt(timeAt(p.x), frequencyAt(p.y)); // a click on a clip selects it too
    } else if (d.shift) {
      select(timeAt(d.x), timeAt(p.x));
      const band = boxBand(d.y, p.y);
      if (band === ABOVE_NYQUIST) showInClipInfo(el("p", "error", `no clip created: the box lies above the recording's Nyquist frequency (${state.recording!.samplerate / 2} Hz)`));
      else void createClip(timeAt(d.x), timeAt(p.x), band);
    }
  });
  // A mouse wheel notch is about 100 units; trackpads send many small deltas: one level per 100.
  let wheel = 0;
  plot.addEventListener("wheel", (e) => {
    if (!state.geometry) return;
    e.preventDefault();
    wheel += e.deltaMode === WheelEvent.DOM_DELTA_PIXEL ? e.deltaY : 100 * Math.sign(e.deltaY);
    if (Math.abs(wheel) < 100) return;
    zoomStep(wheel < 0 ? 1 : -1, local(e).x);
    wheel = 0;
  }, { passive: false });
  $("zoom-in").onclick = () => state.geometry && zoomStep(1);
  $("zoom-out").onclick = () => state.geometry && zoomStep(-1);
  $("pan-left").onclick = () => state.geometry && panTo(state.originPx - plot.clientWidth / 2);
  $("pan-right").onclick = () => state.geometry && panTo(state.originPx + plot.clientWidth / 2);
  $("fit").onclick = () => state.geometry && fit();
  // The keys of the buttons, on the focused plot (it takes focus: tabindex 0).
  plot.addEventListener("keydown", (e) => {
    if (!state.geometry || e.ctrlKey || e.metaKey || e.altKey) return;
    const act: Record<string, () => void> = {
      "+": () => zoomStep(1), "=": () => zoomStep(1), "-": () => zoomStep(-1),
      ArrowLeft: () => panTo(state.originPx - plot.clientWidth / (e.shiftKey ? 20 : 2)), ArrowRight: () => panTo(state.originPx + plot.clientWidth / (e.shiftKey ? 20 : 2)),
      // A selection from the keyboard, marked at the plot's middle: a shift-drag was the only way to a clip.
      "[": () => markSelection("start"), "]": () => markSelection("end"), p: playSelection,
      Enter: () => { if (!e.repeat) void clipSelection(e.shiftKey); }, // a held key repeats: one clip
      // The recording's start at the plot's left edge, its end at the right one (at the closest zoom the arrows took 585 presses across a 10-minute recording).
      Home: () => panTo(0), End: () => panTo(state.geometry!.frames * pxPerFrame() - plot.clientWidth),
      g: () => $<HTMLInputElement>("goto").select(), // focused, its text selected: typed over
      // Space plays the view, or stops what plays or is being fetched; Escape stops it too (below).
      " ": () => { if (playing()) stopPlayback(); else playVisible(); },
    };
    const run = act[e.key];
    if (!run) return;
    e.preventDefault();
    run();
  });
  // Escape stops what plays (or is being fetched) and is spent there: the clip panel's own Escape
  // on the plot (clip-panel.ts) skips it — one press both stopped playback and closed the panel.
  // Capture: at the plot it runs before the panel's listener, added first.
  plot.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !playing()) return;
    e.preventDefault();
    stopPlayback();
  }, true);
  $("play").onclick = () => state.recording && state.geometry && playVisible();
  $("play-selection").onclick = () => state.geometry && playSelection();
  $("clip-selection").onclick = (e) => state.geometry && void clipSelection(e.shiftKey);
  $("rate").onchange = applySpeed;
  const audio = $<HTMLAudioElement>("audio");
  audio.addEventListener("ended", () => showPlaying(null));
  audio.addEventListener("pause", () => showPlaying(null));
  $("goto-form").addEventListener("submit", (e) => { e.preventDefault(); goToTime(); });
  // Clamped as a pan is: a plot grown wider showed mostly the space past the recording's end.
  window.addEventListener("resize", () => state.geometry && clampToPlot());
}

// ---------------------------------------------------------------------------------------------
// Selection tables: a Raven selection table, CSV or Audacity label track imported as clips of the
// open recording (POST /v1/clips/import), its clips exported as one (GET /v1/clips/export).

/** Shows the answer of an import or export (or why there is none) under the selection controls. */
function showSelectionsResult(error: boolean, ...content: Node[]) {
  const out = $("selections-result");
  out.replaceChildren(...content);
  out.className = error ? "error" : "";
}

/**
 * A refusal as the page says it: a 400's faults in a table by line and column (its message is
 * them joined in one sentence), a 401/403 with which token to give, any other with its message.
 */
function selectionsFailure(what: string, err: Error): Node[] {
  const { status, fields } = err as Partial<ApiFailure>;
  if (fields?.length) return [el("p", "", `${what}: ${fields.length === 1 ? "a fault" : `${fields.length} faults`} (the header is line 1).`), faultTable(fields)];
  const said = [el("p", "", `${what}: ${err.message}`)];
  if (status === 401 || status === 403) said.push(el("p", "", "Enter a member's API token at the top (API token), then try again."));
  return said;
}

/** The table's units the page asks for: the `times` choice for a time-expanded recording, real (the API's default) otherwise. */
function tableTimes(): "real" | "file" {
  return state.recording && state.recording.time_expansion !== 1 ? ($<HTMLSelectElement>("selections-times").value as "real" | "file") : "real";
}

/**
 * Imports a table file into the open recording: its bytes sent as they are (the server refuses a
 * table that is not UTF-8, naming its line), the format recognised by the server from its first
 * line. On success the summary is shown and the view's clips fetched again, so the new ones are
 * drawn at once; on a refusal, the faults.
 */
async function importSelections(file: File) {
  const rec = state.recording;
  if (!rec) return;
  // Refused here, as the Import button is disabled: a table dropped onto the plot was sent, and the server's 401/403/409 shown.
  const why = whyNoClips();
  if (why) {
    showSelectionsResult(true, el("p", "", `${file.name} not imported. ${why}.`));
    return;
  }
  // Refused here, before the server's 413: not sent for nothing.
  if (file.size > IMPORT_BODY_LIMIT) {
    showSelectionsResult(true, el("p", "", `${file.name} not imported: it has ${file.size.toLocaleString("en-US")} bytes, more than the ${IMPORT_BODY_LIMIT.toLocaleString("en-US")} an import takes — split the table.`));
    return;
  }
  const query = new URLSearchParams({ recording_id: rec.id, times: tableTimes(), name: file.name.slice(0, 200) });
  const contentType = /\.csv$/i.test(file.name) ? "text/csv" : "text/plain";
  showSelectionsResult(false, el("p", "", `importing ${file.name}…`));
  try {
    const result = await api<ImportResult>(`/v1/clips/import?${query}`, { method: "POST", body: file, headers: { "Content-Type": contentType } });
    if (state.recording !== rec) return;
    showSelectionsResult(false, ...importSummary(file.name, result));
    void fetchClips();
  } catch (err) {
    if (state.recording !== rec) return;
    showSelectionsResult(true, ...selectionsFailure(`${file.name} not imported, no clip created`, err as Error));
    if ((err as Partial<ApiFailure>).status === 409) void recheckReadOnly(); // archived elsewhere, perhaps: Import goes, saying why
  }
}

/**
 * Downloads the open recording's clips as the format chosen (a Raven table or CSV, with or without
 * feature values), in the table units chosen, under the file name the route gives. The page has
 * no clip filters: every active clip of the recording is in it.
 */
async function exportSelections() {
  const rec = state.recording;
  if (!rec) return;
  const format = $<HTMLSelectElement>("export-format").value;
  const features = $<HTMLInputElement>("export-features").checked ? "all" : "none";
  const query = new URLSearchParams({ recording_id: rec.id, format, features, times: tableTimes() });
  try {
    const res = await fetchApi(`/v1/clips/export?${query}`, { headers: authHeaders() });
    if (!res.ok) throw await apiFailure(res);
    const name = dispositionFilename(res.headers.get("content-disposition"), `selections.${format === "csv" ? "csv" : "txt"}`);
    const link = el("a", "");
    link.href = URL.createObjectURL(await res.blob());
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000); // the download has started by then
    showSelectionsResult(false, el("p", "", `Exported ${rec.path}'s clips as ${name}.`));
  } catch (err) {
    showSelectionsResult(true, ...selectionsFailure("not exported", err as Error));
  }
}

/** The import's button and file input, a table dropped onto the plot, the export's button. */
function bindSelections() {
  const input = $<HTMLInputElement>("selections-file"), plot = $("plot");
  $("import-selections").onclick = () => input.click();
  input.onchange = () => {
    const file = input.files?.[0];
    input.value = ""; // the same file chosen again imports again
    if (file) void importSelections(file);
  };
  const carriesFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") ?? false;
  plot.addEventListener("dragover", (e) => {
    if (!state.recording || !carriesFiles(e)) return;
    e.preventDefault(); // accepts the drop
    e.dataTransfer!.dropEffect = "copy";
    plot.classList.add("dropping");
  });
  plot.addEventListener("dragleave", () => plot.classList.remove("dropping"));
  plot.addEventListener("drop", (e) => {
    plot.classList.remove("dropping");
    const file = e.dataTransfer?.files[0];
    if (!file || !state.recording) return;
    e.preventDefault(); // not opened by the browser in place of the page
    void importSelections(file);
  });
  $("export-selections").onclick = () => void exportSelections();
}

/**
 * The selection controls for a newly opened recording: no previous answer, and the choice of the
 * table's units only where time expansion makes them differ, its tooltip saying what they mean.
 */
function showSelectionsFor(rec: Recording) {
  const te = rec.time_expansion;
  const choice = $("selections-times-label");
  choice.hidden = te === 1;
  choice.title = `The units of the table's times and frequencies. This recording is time-expanded ×${te}: its file is ${te} times longer and lower than the sound was. `
    + `"file": the file as stored, as Raven and Audacity show it (the import divides the table's seconds by ${te} and multiplies its Hz by ${te}; the export writes them so). `
    + `"real": the sound as it was, as this page's axes show it.`;
  $("selections-times").title = choice.title; // read out where the select has the focus
  showSelectionsResult(false);
}

// ---------------------------------------------------------------------------------------------
// Datasets and recordings

/** The page's load of the datasets and its first recording (a link's) in progress, or the last one, ended: a token entered waits for it (init). */
let pageLoad: Promise<void> = Promise.resolve();
/**
 * The opening of a recording still reading what to open — the page's first, a link pasted in, a
 * dataset picked — which a newer one aborts: its reads answered later, it opened its recording
 * over the newer one's, or reset what the user had begun in it.
 */
const openings = new LatestRequest(0);

/** Loads the datasets and opens a recording (loadDatasets), saying why not on the status line. */
function loadPage() {
  pageLoad = loadDatasets().catch((err: Error) => setStatus(err.message, true));
}

async function loadDatasets() {
  const opening = openings.start();
  const select = $<HTMLSelectElement>("dataset");
  const datasets = await allDatasets();
  select.replaceChildren(...datasets.map((d) => new Option(`${d.name} (${d.recording_count})`, d.id)));
  select.onchange = () => openDataset(select.value, true).catch((err: Error) => {
    $("recordings").replaceChildren(); // not the previous dataset's recordings under this name
    $("recordings-pager").hidden = true;
    setStatus(`the dataset cannot be listed: ${err.message}`, true);
  });
  if (opening.aborted) return; // a link pasted in meanwhile opens its recording
  const linked = parseLink();
  let linkFailure = "";
  if (linked) {
    try {
      return await openLinkedRecording(linked);
    } catch (err) {
      linkFailure = linkFailureMessage(err as Error);
    }
  }
  if (datasets.length) await openDataset(datasets[0].id);
  else setStatus("no datasets yet: create one through the API (see /docs)");
  if (linkFailure) setStatus(linkFailure, true);
}

/** Datasets the API lists in one page: its largest. */
const DATASET_PAGE = 1000;

/** Every active dataset, by name, page after page: the picker listed the first 100, and a lab's 101st could not be picked. */
async function allDatasets(): Promise<Dataset[]> {
  const datasets: Dataset[] = [];
  for (let offset = 0; ; offset += DATASET_PAGE) {
    const page = await api<Page<Dataset>>(`/v1/datasets?limit=${DATASET_PAGE}&offset=${offset}`);
    datasets.push(...page.items);
    if (offset + DATASET_PAGE >= page.total) return datasets;
  }
}

/** Why a link's recording did not open, saying it is the link's ("invalid path: id: must be a UUID" alone named no link). */
function linkFailureMessage(err: Error): string {
  return `the linked recording cannot be opened: ${err.message}`;
}

/** A value of a link the page refused, and why. */
interface LinkRefusal { field: string; message: string }

/**
 * What a link `#recording=<id>&t=<s>&level=<n>&<parameter>=<value>…` asks for: the recording,
 * the view (the time at the plot's middle and the zoom level; none if either is missing), the
 * parameters that differ from the defaults, and the values refused. Null without a recording.
 * A view with an empty or non-numeric value, or a level past the zoom's range, is refused (the
 * recording fitted): level=40 drew tiles 10^12 px wide, level=-2000 a scale of 0 and a view of
 * NaN. So is a boolean neither "true" nor "false" (the default kept): any other read as false.
 */
function parseLink(): { recording: string; view: LinkedView | null; params: URLSearchParams; refused: LinkRefusal[] } | null {
  const q = new URLSearchParams(location.hash.slice(1));
  const recording = q.get("recording");
  if (!recording) return null;
  const refused: LinkRefusal[] = [];
  const refuse = (name: string, must: string) => refused.push({ field: name, message: `the link's ${name} "${q.get(name)}" was refused: it must be ${must}` });
  const numberOf = (name: string) => q.get(name)!.trim() === "" ? NaN : Number(q.get(name));
  let view: LinkedView | null = null;
  if (q.has("t") && q.has("level")) {
    const t = numberOf("t"), level = numberOf("level");
    if (!Number.isFinite(t)) refuse("t", "a number of seconds");
    // Up to one frame across the plot: a fitted short recording's level passes the closest whole one.
    const closest = Math.max(MAX_LEVEL, Math.log2($("plot").clientWidth));
    if (!(level >= -MAX_ZOOM && level <= closest)) refuse("level", `a number from ${-MAX_ZOOM} to ${+closest.toFixed(1)}`);
    if (!refused.length) view = { t, level };
  }
  const params = new URLSearchParams();
  for (const [name, value] of q) {
    const field = FIELDS.find((f) => f.name === name);
    if (!field) continue;
    if (field.kind === "boolean" && value !== "true" && value !== "false") refused.push({ field: name, message: `"${value}" was refused: must be true or false` });
    else params.set(name, value);
  }
  return { recording, view, params, refused };
}

/**
 * Opens the recording of a link, whichever dataset it belongs to: looked up by id, then its
 * dataset selected and listed beside it, shown with the link's parameters and view.
 */
async function openLinkedRecording(link: NonNullable<ReturnType<typeof parseLink>>) {
  const opening = openings.start();
  let rec: Recording, dataset: Dataset;
  try {
    rec = await api<Recording>(`/v1/recordings/${encodeURIComponent(link.recording)}`, { signal: opening });
    // Asked even if the picker lists it: archived since, its recording is read-only, which the recording's own state does not say.
    dataset = await api<Dataset>(`/v1/datasets/${rec.dataset_id}`, { signal: opening });
  } catch (err) {
    if (opening.aborted) return;
    throw err;
  }
  selectDataset(dataset);
  $<HTMLInputElement>("recording-search").value = "";
  await listRecordings(rec.dataset_id, 0);
  if (opening.aborted) return;
  setPanel(link.params);
  await openRecording(rec, link.view, dataset);
  if (opening.aborted) return; // the fields' messages are not the newer recording's
  showLinkRefusals(link.refused);
}

/**
 * Shows a link's view and parameters in the recording open, which the link names: the view moves
 * (and the parameters change, if the link's differ: a band, a colormap) — the clips fetched, the
 * selection, the clip panel and whatever is typed in it stay, and nothing of the recording is read
 * again. Opened again, as a link to another recording is, a link to another time of it (or Back to
 * one) closed the panel, dropped the selection and a note being typed, and read it all again.
 */
async function showLinkedView(link: NonNullable<ReturnType<typeof parseLink>>) {
  openings.cancel(); // another recording still being read opened over this one
  const shown = panelQuery().toString();
  setPanel(link.params);
  const view = link.view ?? "whole";
  if (panelQuery().toString() === shown && state.geometry) {
    setStatus(""); // a previous link's refusal, as the parameters' answer takes it off
    showView(view);
  } else {
    // Shown once the link's parameters are applied: at once, the view was the old parameters'.
    state.linkedView = view;
    await applyParams();
    if (state.recording?.id !== link.recording) return; // the fields' messages are not another recording's
  }
  showLinkRefusals(link.refused);
}

/**
 * Says what a link asked for that was refused: a parameter's message at its field, once the
 * parameters are applied (their answer clears the fields' messages); the view's on the status line.
 */
function showLinkRefusals(refused: LinkRefusal[]) {
  const ofView = refused.filter((r) => !FIELDS.some((f) => f.name === r.field)); // no field of theirs
  for (const r of refused) if (!ofView.includes(r)) addFieldError(r.field, r.message);
  if (ofView.length) setStatus(`${ofView.map((r) => r.message).join("; ")}: the whole recording is shown`, true);
}

/**
 * Milliseconds the view must rest before the address follows it: Chromium refuses a page more
 * than 100 history changes in 10 s, and a drag renders that many.
 */
const LINK_DELAY_MS = 150;
const linkUpdates = new LatestRequest(LINK_DELAY_MS);
/**
 * Whether the address asks for what the page shows now: its link (shownLink), the values perhaps
 * in another order. Such a link pasted in was opened again, which lost the selection and the clip
 * begun. Compared with the link the page last wrote, a link pasted in right after another moved
 * the view — before the address followed it (LINK_DELAY_MS) — was taken for what was shown when it
 * asked for the view before, and nothing moved.
 */
function asksWhatIsShown(): boolean {
  const sorted = (hash: string) => {
    const q = new URLSearchParams(hash.slice(1));
    q.sort();
    return q.toString();
  };
  const shown = shownLink();
  return shown !== null && sorted(location.hash) === sorted(shown);
}

/**
 * The link to what is shown — the recording, the time at the plot's middle, the zoom level and the
 * panel's parameters that differ from the defaults —, null with no recording open.
 */
function shownLink(): string | null {
  const rec = state.recording;
  if (!rec) return null;
  const q = new URLSearchParams({ recording: rec.id });
  // A link's view not shown yet (its parameters refused until one is fixed) stays in it: it was
  // dropped, and the time and zoom the link was sent for were lost with the one bad value.
  const view: LinkedView | "whole" | null = state.geometry
    ? { t: +timeAt($("plot").clientWidth / 2).toFixed(6), level: Math.log2(pxPerFrame()) } // fractional level for a fitted view
    : state.linkedView;
  if (view !== null && view !== "whole") {
    q.set("t", String(view.t));
    q.set("level", String(view.level));
  }
  // The panel's, a value the server refused included: a reload shows it again, with its message.
  for (const [name, value] of panelQuery()) if (!(name === "width" && value === String(DEFAULTS.width))) q.set(name, value);
  return `#${q}`;
}

/**
 * Keeps the address a link to what is shown (shownLink), so that a reload, or the link sent to a
 * colleague, shows the same (a reload showed the whole recording with the default parameters: a
 * call zoomed in to, on a PCEN-free viridis, was lost).
 */
function writeLink() {
  const link = shownLink();
  if (link === null) return;
  // A recording opened by the user is an entry of its own, for Back to return to the one before;
  // the rest (a zoom, a pan, a parameter, a link followed) replaces the entry of what is shown.
  if (newEntryNext && link !== location.hash) history.pushState(null, "", link);
  else history.replaceState(null, "", link);
  newEntryNext = false;
}

/** The next link written (openRecording's) is a new history entry: set by openAsNewEntry. */
let newEntryNext = false;

/**
 * Opens recording `rec` as the user picked it (from the list, or first of a dataset picked) as a
 * new history entry, the entry of the recording shown left with its view, which the address may
 * not follow yet (LINK_DELAY_MS). Each opening replaced the one entry: Back left the page.
 * Back and Forward come back as a hashchange (init), which opens the entry's recording and view.
 */
function openAsNewEntry(rec: Recording): Promise<void> {
  writeLink();
  newEntryNext = true;
  return openRecording(rec);
}

/** The search box lists once it rests, and the pager's buttons list the pages either side, of the dataset selected. */
function bindRecordingList() {
  const relist = (offset: number) => () => listRecordings($<HTMLSelectElement>("dataset").value, offset)
    .catch((err: Error) => setStatus(`the recordings cannot be listed: ${err.message}`, true));
  $("recording-search").oninput = () => recordingRequests.later(relist(0));
  $("recordings-prev").onclick = () => void relist(Math.max(0, listedOffset - RECORDING_PAGE))();
  $("recordings-next").onclick = () => void relist(listedOffset + RECORDING_PAGE)();
}

/** Selects dataset `d` in the picker, adding it if it is not among the datasets listed. */
function selectDataset(d: Dataset) {
  const select = $<HTMLSelectElement>("dataset");
  if (![...select.options].some((o) => o.value === d.id)) select.add(new Option(`${d.name} (${d.recording_count})`, d.id));
  select.value = d.id;
}

/** Lists a dataset's recordings from the first, the search box emptied, and opens the first: as a new history entry if `picked` (by the user, not at load). */
async function openDataset(datasetId: string, picked = false) {
  const opening = openings.start();
  $<HTMLInputElement>("recording-search").value = "";
  const [first] = (await listRecordings(datasetId, 0)) ?? [];
  if (first && !opening.aborted) await (picked ? openAsNewEntry(first) : openRecording(first));
}

/** Recordings listed at a time: the rest of a dataset (an AudioMoth season holds 30,000) are reached by the pager and the search box. */
const RECORDING_PAGE = 100;
/** Milliseconds the search box must rest before it lists: a typed word asks once. */
const SEARCH_DELAY_MS = 250;
/** The listing of recordings in flight and the search waiting for the box to rest. */
const recordingRequests = new LatestRequest(SEARCH_DELAY_MS);
/** Where the recordings listed start among all that match: the pager's pages are either side of it. */
let listedOffset = 0;

/**
 * Lists the dataset's recordings whose path holds the search box's text, RECORDING_PAGE of them
 * from `offset`, and says where they are among all that match ("101–200 of 30,000"). The listing
 * in flight is aborted: returns null if a newer one aborted this one, else the recordings listed.
 * (It listed the first 100, and no other could be opened but by a link.)
 */
async function listRecordings(datasetId: string, offset: number): Promise<Recording[] | null> {
  const signal = recordingRequests.start();
  const search = $<HTMLInputElement>("recording-search").value;
  const query = new URLSearchParams({ dataset_id: datasetId, limit: String(RECORDING_PAGE), offset: String(offset) });
  if (search) query.set("search", search);
  let page: Page<Recording>;
  try {
    page = await api<Page<Recording>>(`/v1/recordings?${query}`, { signal });
  } catch (err) {
    if (signal.aborted) return null;
    throw err;
  }
  const recordings = page.items;
  listedOffset = offset;
  const count = (n: number) => n.toLocaleString("en-US");
  $("recordings-range").textContent = recordings.length
    ? `${count(offset + 1)}–${count(offset + recordings.length)} of ${count(page.total)}`
    : search ? "no recordings match" : "no recordings";
  $<HTMLButtonElement>("recordings-prev").disabled = offset === 0;
  $<HTMLButtonElement>("recordings-next").disabled = offset + recordings.length >= page.total;
  $("recordings-pager").hidden = false;
  $("recordings").replaceChildren(...recordings.map((r) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.dataset.id = r.id;
    b.classList.toggle("open", r.id === state.recording?.id);
    const facts = `${durationText(r.duration)} · ${(r.samplerate / 1000).toFixed(1)} kHz${r.time_expansion !== 1 ? ` · TE ${r.time_expansion}` : ""} · ${r.channels} ch`;
    b.append(r.path, el("br", ""), el("small", "", facts));
    b.onclick = () => {
      openings.cancel(); // a link's still read opened its recording over this one
      void openAsNewEntry(r);
    };
    li.append(b);
    return li;
  }));
  return recordings;
}

/**
 * Why recording `rec` of `dataset` is read-only, null if it is not: archived or trashed itself, or
 * its dataset (whose recordings the API then refuses to change, 409, though their own `state` is
 * active). `dataset`: null for a recording listed, which neither is (the listing shows active ones).
 */
function whyReadOnly(rec: Recording, dataset: Dataset | null): string | null {
  if (rec.state !== "active") return `${rec.path} is ${rec.state}`;
  if (dataset && dataset.state !== "active") return `${rec.path}'s dataset ${dataset.name} is ${dataset.state}`;
  return null;
}

/**
 * The state under which the API lists the clips of recording `rec` of `dataset` (null: one
 * listed, of a dataset taken as active): their effective state, the most hidden of the recording's
 * and its dataset's — archiving either leaves the clips' own `state` active, and the listing's
 * default, `active`, left out every clip of a read-only recording.
 */
function clipListingState(rec: Recording, dataset: Dataset | null): string {
  const states = [rec.state, dataset?.state ?? "active"];
  return states.includes("trashed") ? "trashed" : states.includes("archived") ? "archived" : "active";
}

/**
 * Milliseconds between two reads of the open recording's state as it is opened from the list and
 * the page is shown again: a return to it sends visibilitychange and focus both, a window clicked
 * in and out of a focus each time, and a recording opened from the list is followed by the focus.
 */
const READ_ONLY_RECHECK_MS = 3000;
/** The re-read of the recording's and its dataset's state in flight: another recording opened meanwhile drops it. */
const readOnlyRequests = new LatestRequest(0);
/**
 * Which recording's state and its dataset's were last read, and when (a link's, recheckReadOnly):
 * the one limit of the reads as it is opened and shown again. Each had its own, and a recording
 * opened from the list and then the focus read them twice.
 */
let statesRead = { recordingId: "", at: -Infinity };
/** The re-read waiting for READ_ONLY_RECHECK_MS to pass since the last (recheckReadOnlySoon). */
let recheckDue: ReturnType<typeof setTimeout> | undefined;

/** Milliseconds until the state of recording `rec` is read again, if asked: 0 unless it was read in the last READ_ONLY_RECHECK_MS. */
function untilStatesStale(rec: Recording): number {
  return statesRead.recordingId === rec.id ? Math.max(0, statesRead.at + READ_ONLY_RECHECK_MS - Date.now()) : 0;
}

/**
 * Reads the open recording's state again (recheckReadOnly) as the page is shown again: now, or at
 * the end of READ_ONLY_RECHECK_MS since it was last read — once, however many calls came
 * meanwhile — so that a change made elsewhere within those shows too.
 */
function recheckReadOnlySoon() {
  const rec = state.recording;
  if (!rec || recheckDue !== undefined) return;
  const wait = untilStatesStale(rec);
  if (wait === 0) void recheckReadOnly();
  else recheckDue = setTimeout(() => { recheckDue = undefined; void recheckReadOnly(); }, wait);
}

/**
 * Reads the open recording and its dataset again (GET /v1/recordings/{id}, GET /v1/datasets/{id})
 * and offers what their states let be done: archived or trashed in another tab, or by another
 * user, the recording is read-only, and the page still offered Clip selection, Import and the clip
 * panel's changes, each a 409 once clicked. Its clips are fetched again if they are now listed
 * under another state (clipListingState): archived, they went from the plot at the next fetch.
 * Run as a recording is opened from the list (whose dataset may have been archived since it was
 * read), as the page is shown again (recheckReadOnlySoon) and after a 409. A read that fails changes
 * nothing: the next change's answer says what is wrong. It counts as read once asked (statesRead):
 * a focus and a visibilitychange together ask once.
 */
async function recheckReadOnly() {
  const rec = state.recording;
  if (!rec) return;
  const signal = readOnlyRequests.start();
  statesRead = { recordingId: rec.id, at: Date.now() };
  try {
    const [current, dataset] = await Promise.all([
      api<Recording>(`/v1/recordings/${rec.id}`, { signal }),
      api<Dataset>(`/v1/datasets/${rec.dataset_id}`, { signal }),
    ]);
    if (state.recording !== rec) return;
    const listedUnder = clipListingState(rec, state.dataset);
    if (current.time_expansion !== rec.time_expansion || current.revision !== rec.revision) refreshRecording(rec, current);
    rec.state = current.state;
    state.dataset = dataset;
    showReadOnly(whyReadOnly(rec, dataset));
    if (clipListingState(rec, dataset) !== listedUnder) void fetchClips();
  } catch { /* aborted (another recording opened), or not read: the offers stay */ }
}

/**
 * Takes in the open recording as read again (`current`) where its tiles changed — its time
 * expansion set elsewhere (another tab, the API), or its file or engine, each a new revision: the
 * page kept the old units and tile URLs until a reload. The view and the selection keep their part
 * of the file (their seconds times the old expansion over the new one); the read-out, in
 * the old units, goes, as does playback; the clips are fetched again (a new time expansion moves
 * their real times with the file's), and the list shows the new facts.
 */
function refreshRecording(rec: Recording, current: Recording) {
  const ratio = rec.time_expansion / current.time_expansion; // old real seconds to new ones
  stopPlayback();
  Object.assign(rec, current);
  if (state.selection) {
    const s = state.selection;
    state.selection = { start: s.start * ratio, end: s.end === null ? null : s.end * ratio, clipId: s.clipId };
  }
  state.readoutAt = null;
  $("readout").textContent = "";
  delete $("readout").dataset.value;
  drawMarker();
  showRecordingFacts(rec);
  showSelectionsFor(rec);
  clipRequests.cancel(); // a fetch in flight asked in the old units
  setClips([], null); // in the old units: the next render fetches them again
  state.rescale = ratio;
  void applyParams();
  const dataset = $<HTMLSelectElement>("dataset").value;
  if (dataset === rec.dataset_id) void listRecordings(dataset, listedOffset).catch(() => { /* the list stays as it was */ });
}

/** Sets why the open recording is read-only (null: it is not), offering Clip selection, Import and the clip panel's changes accordingly, each saying why not. */
function showReadOnly(why: string | null) {
  if (why === state.readOnly) return;
  state.readOnly = why;
  offerClipCreation();
  clipPanel.readOnlyChanged();
}

/**
 * Shows a recording of `dataset` (a link's, just read) or of the list (null: its state and its
 * dataset's are read again — recheckReadOnly — unless read in the last READ_ONLY_RECHECK_MS; until
 * then its dataset is taken as last read, or as active): the whole of it, or `view` (a link's).
 * Taken as active, a dataset archived since it was read left Clip selection offered, and the
 * first clip was the server's 409.
 */
async function openRecording(rec: Recording, view: LinkedView | null = null, dataset: Dataset | null = null) {
  for (const b of document.querySelectorAll<HTMLButtonElement>("#recordings button")) b.classList.toggle("open", b.dataset.id === rec.id);
  stopPlayback(); // the previous recording's audio and cursor
  state.rescale = null;
  readOnlyRequests.cancel(); // the previous recording's
  clearTimeout(recheckDue);
  recheckDue = undefined;
  state.recording = rec;
  state.dataset = dataset ?? (state.dataset?.id === rec.dataset_id ? state.dataset : null);
  state.readOnly = whyReadOnly(rec, state.dataset);
  if (dataset) statesRead = { recordingId: rec.id, at: Date.now() };
  else if (untilStatesStale(rec) === 0) void recheckReadOnly();
  state.geometry = null;
  state.query = "";
  state.readoutAt = null; // a read-out of the previous recording
  state.selection = null;
  state.linkedView = view;
  drawMarker();
  drawSelection();
  $("readout").textContent = "";
  delete $("readout").dataset.value;
  clearTiles();
  // The previous recording's axes stayed over an empty plot while this one's parameters were refused.
  $("taxis").replaceChildren();
  $("faxis").replaceChildren();
  forgetClips();
  const name = $("recording-name");
  name.textContent = rec.path;
  name.title = rec.path; // whole here: a long name is cut short with an ellipsis
  showRecordingFacts(rec);
  showInClipInfo();
  showSelectionsFor(rec);
  writeLink();
  await applyParams();
  await fetchClips();
}

/** The open recording's duration and rate, real (time expansion applied), after its name. */
function showRecordingFacts(rec: Recording) {
  $("recording-facts").textContent = ` — ${durationText(rec.duration)}, ${(rec.samplerate / 1000).toFixed(1)} kHz`;
}

/** The panel of the clip selected (web/clip-panel.ts), on the page's clips. */
const clipPanel = new ClipPanel({
  api, setStatus,
  user: () => userAnswer,
  askUserAgain: fetchUser,
  readOnly: () => state.readOnly,
  conflicted: () => void recheckReadOnly(),
  fetchedClips: () => clips,
  recording: () => state.recording,
  shown: (c) => showClip(c),
  // Bounds changed: the values a job computed of the old ones were removed (PATCH), computed again as for a clip drawn.
  moved: (c, reshaped) => {
    putClip(c);
    if (reshaped) {
      showClip(c, "(moved)");
      void extractClipFeatures(c, c.low_freq === null && c.high_freq === null ? null : "clip", "(moved)");
    } else if ($("clip-info").dataset.clipId === c.id) showClip(c);
  },
  deleted: (id) => { if ($("clip-info").dataset.clipId === id) showInClipInfo(); void fetchClips(); },
});

function init() {
  const tokenInput = $<HTMLInputElement>("token");
  tokenInput.value = token();
  tokenInput.onchange = () => {
    localStorage.setItem("sonotile.token", tokenInput.value.trim());
    void fetchUser();
    clipPanel.refresh();
    // On a server that needs a token for reads nothing could load without one: load it now — once
    // the load in progress has ended, if it opened nothing. Started at once, it listed the datasets
    // and opened a link's recording a second time, which reset what the user had begun meanwhile.
    const loading = pageLoad;
    void loading.then(() => {
      if (pageLoad === loading && !state.recording) loadPage();
    });
  };
  buildPanel();
  bindPlot();
  bindRecordingList();
  bindSelections();
  void fetchUser();
  // Back from another tab or window, where the user's role, the recording's clips (a clip drawn in
  // a second tab stayed missing from this one until the view left its clips' window), the clip
  // selected, and the recording's or its dataset's state may have changed. The user is asked
  // first: the panel's refresh waits on that answer.
  window.addEventListener("focus", () => {
    void fetchUser();
    clipPanel.refresh();
    if (state.geometry) void fetchClips();
    recheckReadOnlySoon();
  });
  // A tab shown again may get no focus event (headless Chromium's, brought to the front).
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") recheckReadOnlySoon();
  });
  // A link pasted into the address bar of an open page, or Back and Forward through those (not the
  // page's own, which fires no hashchange): to the recording open, it moves the view alone.
  window.addEventListener("hashchange", () => {
    const linked = parseLink();
    if (!linked || asksWhatIsShown()) return;
    const shown = linked.recording === state.recording?.id ? showLinkedView(linked) : openLinkedRecording(linked);
    shown.catch((err: Error) => {
      setStatus(linkFailureMessage(err), true);
      // The recording shown stays: so does its link, in the address. The link refused stayed
      // there, and a reload tried it again (the error said, the recording shown was another).
      writeLink();
    });
  });
  loadPage();
}

init();
