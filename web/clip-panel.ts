/**
 * The viewer's clip panel: a clip selected — its box clicked on the plot, or reached in the list
 * of clips in view (Tab into the list, the arrow keys through it) — shows its bounds (times, and
 * frequencies if it is a box over a band) as numbers to edit, its tags (added with completion from the tags in use, or new; removed), its notes (added;
 * listed with author and time; edited, archived — then listed apart, collapsed and read-only —
 * restored and trashed by their creator or an admin, who also sees the trashed ones, collapsed, and
 * restores them) and a button that deletes it — each offered only to whom the API lets do it:
 * the bounds' Move and Delete to the clip's creator and an admin (another member is told whose the
 * clip is instead), tags and notes to any member, nothing to a viewer, a reader without a token, or
 * on a read-only clip or recording (archived or trashed, or its dataset: the page reads these again
 * as it is shown again, and after a 409). Every change
 * goes through the API with the page's token (PATCH and DELETE /v1/clips/{id}, POST and DELETE
 * /v1/clips/{id}/tags, POST /v1/notes, PATCH /v1/notes/{id}, POST /v1/notes/{id}/archive|restore|trash);
 * a refusal is said on the status line. An annotator compared the page with Whombat and Raven: it
 * drew clips, and nothing could be said about them.
 *
 * The page (main.ts) fetches and draws the clips; this module lists those in view, keeps which
 * one is selected and owns the panel (in the page's side column, after the list in tab order).
 */
import { $, el } from "./dom.js";
import { LatestRequest } from "./latest.js";
import { mayChangeWorkOf, mayWrite, viewerOnly, type User } from "./access.js";
import type { FeatureValue } from "./features.js";

export interface Tag { key: string; value: string }

/** A note as a clip carries it (GET /v1/clips/{id}: its active notes, oldest first), with its author's username. */
interface Note { id: string; message: string; is_issue: boolean; created_at: string; created_by: string | null; created_by_username: string | null }

/** A note as GET /v1/notes lists it: with its own state too (active, archived or trashed). */
interface ListedNote extends Note { state: string }

/** The states of the notes the panel lists apart, collapsed, each with Restore: a clip carries its active notes only. */
type HiddenState = "archived" | "trashed";

/**
 * A clip's notes in a hidden state as far as the panel has listed them (GET /v1/notes, newest
 * first, a page at a time): those listed, how many of the server's list were fetched (the next
 * page's offset) and how many it holds.
 */
interface HiddenNotes { notes: Note[]; fetched: number; total: number }

/** Nothing listed: a clip not fetched yet, or trashed notes the user may not restore. */
const NO_HIDDEN_NOTES: HiddenNotes = { notes: [], fetched: 0, total: 0 };
const HIDDEN_STATES: readonly HiddenState[] = ["archived", "trashed"];

/** The trashed notes `user` may restore, as GET /v1/notes filters them: an admin every one, a member their own (asked of the server, so that its total counts those alone). */
const restorableBy = (user: User): Record<string, string> => (user.role === "admin" ? {} : { created_by: user.id });

/** What the panel does to a note besides editing it (POST /v1/notes/{id}/<action>), and the word saying it done. */
const NOTE_STATE_ACTIONS = { archive: "archived", restore: "restored", trash: "trashed" } as const;
type NoteStateAction = keyof typeof NOTE_STATE_ACTIONS;

/** Where the focus goes once the notes are listed anew: a control of a note (its data-control), or an element by id. */
type FocusTarget = { noteId: string; control: string } | { id: string };

/** A clip as the page fetches and lists it: its bounds (frequencies in real Hz, null: none on that side), feature values (the list's text) and tags (the completion's). */
export interface ListedClip {
  id: string; recording_id: string; start_time: number; end_time: number; low_freq: number | null; high_freq: number | null; features: FeatureValue[]; tags: Tag[];
  /** Its own state: active, archived (read-only) or trashed — a read-only recording's clips are read-only whatever it is (ClipPanelHost.readOnly). */
  state: string;
}

/** A clip as GET /v1/clips/{id} gives it, the parts the panel shows. */
export interface PanelClip extends ListedClip {
  notes: Note[];
  /** Its creator, who alone with an admin may move or delete it, and their username (null: none on record). */
  created_by: string | null;
  created_by_username: string | null;
}

/** What the panel needs of the page. */
export interface ClipPanelHost {
  /** JSON of the API with the page's token; throws an Error carrying the answer's `status` for anything but 2xx (main.ts api). */
  api<T>(path: string, init?: RequestInit): Promise<T>;
  /** Writes the status line (`error`: in red). */
  setStatus(text: string, error?: boolean): void;
  /**
   * The user of the page's token as the page last asked (GET /v1/users/me — at load, when a token
   * is entered, back on the page; null without a token or refused): one request serves the page's
   * offers and the panel (each asked its own, the panel at every clip opened).
   */
  user(): Promise<User | null>;
  /** Asks again who the token's user is — a refusal (403) says their role changed — the page's offers following. */
  askUserAgain(): Promise<User | null>;
  /**
   * Why the recording open is read-only — itself or its dataset archived or trashed ("r1.wav's
   * dataset night is archived") — or null: none of its clips is changed then (the API's 409),
   * whatever the clip's own state.
   */
  readOnly(): string | null;
  /** A change was refused as contradicting a record's state (409): the page reads the recording's and its dataset's again, archived meanwhile perhaps. */
  conflicted(): void;
  /** The clips the page has fetched (the view plus a plot width either side): their tags come first in the completion. */
  fetchedClips(): readonly ListedClip[];
  /** The recording open, if any: its tags and its dataset's come next in the completion; its rates give the digits of a clip's times shown (boundTexts). */
  recording(): { id: string; dataset_id: string; samplerate: number; time_expansion: number } | null;
  /** A clip was selected: the page shows its feature values and selects its range (Play selection plays it). */
  shown(clip: ListedClip): void;
  /**
   * A clip's bounds were moved: the page draws it anew and, when they changed (`reshaped`), has its
   * features computed again as for a clip drawn — the server removed those a job computed of the
   * bounds before (PATCH's stale_feature_values_removed).
   */
  moved(clip: PanelClip, reshaped: boolean): void;
  /** A clip was deleted: the page takes it off the plot. */
  deleted(id: string): void;
}

/** Values offered for a key from each scope's tags: a datalist longer than this is scrolled, not read. */
const SUGGESTIONS = 50;
/**
 * Tags asked of each scope (GET /v1/tags) once for the completion, which then narrows them as one
 * types; a scope holding more (a vocabulary of thousands) is asked again as one types.
 */
const SCOPE_TAGS = 1000;
/** Milliseconds the tag fields must rest before their completion is asked for: a typed word asks once. */
const SUGGEST_DELAY_MS = 200;
/**
 * Archived or trashed notes asked of a clip at a time, Show more asking for the next: a clip holds
 * a few, and a clip with thousands shows the first hundred at once. One page of the API's largest
 * (1000) was all the panel asked for: the rest were never listed, and the count said 1000.
 */
const HIDDEN_NOTES_PAGE = 100;
/** The API's largest page (MAX_LIMIT): a refresh asks for the notes listed again in one page of at most this many. */
const API_MAX_LIMIT = 1000;
/** Characters of a note's message quoted in the question before it is trashed. */
const QUOTED_CHARACTERS = 60;

/** A frequency bound as the page says it: to the Hz. */
const hz = (f: number) => String(Math.round(f));

/** What the digits of a time shown depend on: the recording's rate (its file's) and time expansion. */
export type Rates = { samplerate: number; time_expansion: number };

/** The fewest decimals of a second whose unit is at most one sample of `rec` in real seconds: 4 at 8 kHz, 5 at 48 kHz, 6 at 384 kHz (boundTexts). */
const sampleDecimals = (rec: Rates) => Math.ceil(Math.log10(rec.samplerate * rec.time_expansion));

/** Fewest decimals a time range is shown to: the panel's title said 4 of every clip, and the list 3. */
const MIN_TIME_DECIMALS = 4;

/**
 * A time range [start, end] (s) as text, both ends to the decimals that tell it from its
 * neighbours: 4 significant digits of its length, at most to the sample of `rec` (there are no
 * finer ones; without a recording, the microsecond), at least MIN_TIME_DECIMALS — "0.27400–0.27850
 * s" for a 4.5 ms call at 48 kHz, which read 0.274–0.279 s at 3 decimals and could not be told from
 * a 5.5 ms one. The list of clips, the box titles, the panel's title, the status line and the
 * selection say times so.
 */
export function timeRangeText(start: number, end: number, rec: Rates | null): string {
  const length = end - start;
  const fourSignificant = length > 0 ? 3 - Math.floor(Math.log10(length)) : MIN_TIME_DECIMALS;
  const digits = Math.max(MIN_TIME_DECIMALS, Math.min(rec ? sampleDecimals(rec) : 6, fourSignificant));
  return `${start.toFixed(digits)}–${end.toFixed(digits)} s`;
}

/** A clip's bounds as text: its times (timeRangeText, of recording `rec`), and its band to the Hz when it has one ("1.0000–2.0000 s, 1200–3500 Hz"; "≤ 500 Hz" with a high bound alone). The page's box titles and clip heading say it so too. */
export const bounds = (c: Pick<ListedClip, BoundName>, rec: Rates | null) => {
  const times = timeRangeText(c.start_time, c.end_time, rec);
  const { low_freq: low, high_freq: high } = c;
  if (low === null && high === null) return times;
  return `${times}, ${low === null ? `≤ ${hz(high!)}` : high === null ? `≥ ${hz(low)}` : `${hz(low)}–${hz(high)}`} Hz`;
};

/** The panel's fields of a clip's bounds, by the bound each edits. */
const BOUND_FIELDS = { start_time: "clip-panel-start", end_time: "clip-panel-end", low_freq: "clip-panel-low", high_freq: "clip-panel-high" } as const;
type BoundName = keyof typeof BOUND_FIELDS;
const BOUND_NAMES = Object.keys(BOUND_FIELDS) as BoundName[];

/**
 * A clip's bounds as its fields show them. Times to the first decimal that tells the recording's
 * samples apart — the fewest decimals whose unit is at most one sample in real seconds (its rate
 * times its time expansion): 4 at 8 kHz, 5 at 48 kHz, 6 at 384 kHz — so that what is shown is
 * within half a sample of what is stored, and no digit of it is noise (they showed 16 digits,
 * 0.9747422680412371 s, a box's ends as the pixels drawn made them). Frequencies to the Hz, as
 * `bounds` says them; none, empty.
 */
function boundTexts(clip: Pick<ListedClip, BoundName>, rec: Rates): Record<BoundName, string> {
  const decimals = sampleDecimals(rec);
  const time = (t: number) => String(+t.toFixed(decimals));
  const band = (f: number | null) => (f === null ? "" : hz(f));
  return { start_time: time(clip.start_time), end_time: time(clip.end_time), low_freq: band(clip.low_freq), high_freq: band(clip.high_freq) };
}
const tagText = (t: Tag) => `${t.key}: ${t.value}`;

/** The bounds as the status line names them. */
const BOUND_WORDS: Record<BoundName, string> = { start_time: "start", end_time: "end", low_freq: "low bound", high_freq: "high bound" };
/** A bound's value as the status line says it: seconds as stored, Hz to the Hz, none for a band open on that side. */
const boundValue = (name: BoundName, v: number | null) => (v === null ? "none" : name.endsWith("_time") ? `${v} s` : `${hz(v)} Hz`);

/**
 * What is typed in the panel's note and tag fields and not added yet: a clip's own draft. Typed on
 * one clip, they stayed in the panel as another was opened, and Add note saved them on that one.
 */
interface Draft { note: string; issue: boolean; tagKey: string; tagValue: string }
const NO_DRAFT: Draft = { note: "", issue: false, tagKey: "", tagValue: "" };
const isEmpty = (d: Draft) => !d.note && !d.issue && !d.tagKey && !d.tagValue;
/** Whether a draft holds work a reload would lose: a note or a tag value typed (the key alone stays after each tag added, for the next one). */
const holdsWork = (d: Draft) => d.note.trim() !== "" || d.tagValue.trim() !== "";

/** What the completion asks of the tags in use: those of `key`, holding `search` in the key or the value, the first `limit`. */
interface TagQuery { key?: string; search?: string; limit: number }

/** A scope's tags (GET /v1/tags with recording_id, dataset_id, neither), fetched for the completion: all of them when `whole`. */
interface ScopeTags { scope: Record<string, string>; items: Tag[]; whole: boolean }

/** The tags of `items` matching `q` as GET /v1/tags finds them (the text in the key or the value, whatever its case), in their order. */
function matching(items: readonly Tag[], q: TagQuery): Tag[] {
  const text = q.search?.normalize("NFC").toLowerCase() ?? "";
  return items.filter((t) => (q.key === undefined || t.key === q.key) && (t.key.toLowerCase().includes(text) || t.value.toLowerCase().includes(text))).slice(0, q.limit);
}

export class ClipPanel {
  readonly #host: ClipPanelHost;
  /** The clip selected (its id at once; the clip once fetched). */
  #selectedId: string | null = null;
  #clip: PanelClip | null = null;
  /** Where the focus goes back to when the panel closes: the list's button or the plot that opened it. */
  #returnTo: HTMLElement | null = null;
  /**
   * The bounds the fields were last filled with (`bounds`: a refresh leaves a number being typed
   * alone unless its bound moved) and the text each field was given (`shown`, rounded: boundTexts).
   * A field still showing its text is not edited: Move sends the clip's own bound, not its rounding.
   */
  #filled: { bounds: Record<BoundName, number | null>; shown: Record<BoundName, string> } | null = null;
  /** The clip being fetched, and the completion being asked for: only the latest counts. */
  readonly #loads = new LatestRequest(0);
  readonly #keySuggestions = new LatestRequest(SUGGEST_DELAY_MS);
  readonly #valueSuggestions = new LatestRequest(SUGGEST_DELAY_MS);
  /**
   * The scopes' tags the completion narrows, fetched at its first use after the panel opened a
   * clip or was refreshed (the window's focus: tags added elsewhere show then), for the recording
   * they were fetched with. Each pause in typing asked the server anew, 0.5 s for a dataset of
   * 200,000 tagged clips.
   */
  #scopeTags: { recordingId: string | undefined; lists: Promise<ScopeTags[]> } | null = null;
  /** The user of the page's token (the host's, as a clip is opened; null without one): what of the clip and its notes they may change. */
  #me: User | null = null;
  /** The clip's archived notes, and the trashed ones the user may restore, as far as listed (newest first). */
  #hiddenNotes: Record<HiddenState, HiddenNotes> = { archived: NO_HIDDEN_NOTES, trashed: NO_HIDDEN_NOTES };
  /** The note being edited and its form: kept, with what is typed in it, when the notes are listed anew (a refresh). */
  #editor: { noteId: string; form: HTMLFormElement } | null = null;
  /** Where the focus goes when the notes are next listed (after a change of one). */
  #focusNext: FocusTarget | null = null;
  /** The drafts of the clips not in the panel's fields, by clip id: each is shown again as its clip is opened again. */
  readonly #drafts = new Map<string, Draft>();
  /** The last error the panel said on the status line, while it may still be there: a clip opened since takes it off. */
  #errorSaid: string | null = null;
  /** Whether leaving the page asks first (beforeunload): set while a draft or bounds typed are unsaved (#guardUnsaved). */
  #guarding = false;
  /** The beforeunload handler: the browser asks before the page is left, or reloaded. */
  readonly #askBeforeLeaving = (e: BeforeUnloadEvent) => {
    e.preventDefault();
    e.returnValue = ""; // Chromium before 119 asks only when it is set
  };

  /** Binds the panel's controls, the clip list's keys and Escape on the plot (the page calls refresh when it is back from another tab). */
  constructor(host: ClipPanelHost) {
    this.#host = host;
    const panel = $("clip-panel");
    $("clip-panel-bounds").addEventListener("submit", (e) => { e.preventDefault(); void this.#move(); });
    $("clip-panel-tag-form").addEventListener("submit", (e) => { e.preventDefault(); void this.#addTag(); });
    $("clip-panel-note-form").addEventListener("submit", (e) => { e.preventDefault(); void this.#addNote(); });
    $("clip-panel-delete").onclick = () => void this.#delete();
    $("clip-panel-close").onclick = () => this.close(true);
    for (const state of HIDDEN_STATES) $(`clip-panel-${state}-more`).onclick = () => void this.#showMoreNotes(state);
    $("clip-panel-tag-key").addEventListener("focus", () => void this.#suggestKeys());
    $("clip-panel-tag-key").addEventListener("input", () => this.#keySuggestions.later(() => void this.#suggestKeys()));
    $("clip-panel-tag-value").addEventListener("focus", () => void this.#suggestValues());
    $("clip-panel-tag-value").addEventListener("input", () => this.#valueSuggestions.later(() => void this.#suggestValues()));
    panel.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      e.preventDefault();
      this.close(true);
    });
    $("clip-list").addEventListener("keydown", (e) => this.#listKey(e));
    // Whatever is typed in the panel (a note, a tag, bounds) may start or end a draft.
    panel.addEventListener("input", () => this.#guardUnsaved());
    panel.addEventListener("change", () => this.#guardUnsaved());
    // Not an Escape spent stopping playback (main.ts): one press both stopped it and closed the panel.
    $("plot").addEventListener("keydown", (e) => { if (e.key === "Escape" && !e.defaultPrevented && this.#selectedId) this.close(false); });
  }

  /**
   * Shows the clip selected, if any, as the server has it now: after the window's focus (it may
   * have been tagged, moved or deleted in another tab), and a new token (whose user may change
   * other notes).
   */
  refresh() {
    if (this.#selectedId) void this.open(this.#selectedId, this.#returnTo, false);
  }

  /** Shows the clip shown, if any, with the controls the recording's state lets through now (host.readOnly): it was archived, or restored, elsewhere. */
  readOnlyChanged() {
    if (this.#clip) this.#show(this.#clip);
  }

  /** The id of the clip selected, if any: its box is drawn as selected. */
  get selectedId(): string | null { return this.#selectedId; }

  /**
   * Lists the clips in view, one button each (its times and feature count; a click selects it).
   * One of them takes Tab (the selected clip's, else the first), the arrow keys, Home and End go
   * through them: a list of a hundred clips is one stop on the way through the page. The focus
   * stays on the clip it was on when the list is redrawn (after every fetch of the clips).
   */
  list(shown: readonly ListedClip[]) {
    const ul = $("clip-list");
    const focused = (document.activeElement as HTMLElement | null)?.closest<HTMLElement>("#clip-list button")?.dataset.clipId;
    const current = ul.querySelector<HTMLButtonElement>("button[tabindex='0']")?.dataset.clipId;
    const stop = [this.#selectedId, focused, current].find((id) => id && shown.some((c) => c.id === id)) ?? shown[0]?.id;
    ul.replaceChildren(...shown.map((c) => {
      const button = el("button", "", `${this.#bounds(c)}${c.features.length ? ` · ${c.features.length} features` : ""}`);
      button.dataset.clipId = c.id;
      button.tabIndex = c.id === stop ? 0 : -1;
      button.setAttribute("aria-pressed", String(c.id === this.#selectedId));
      button.onclick = () => void this.open(c.id, button);
      return el("li", "", button);
    }));
    if (focused) ul.querySelector<HTMLButtonElement>(`button[data-clip-id="${focused}"]`)?.focus();
  }

  /** Selects the shortest clip fetched under real time `t` (s) and frequency `f` (Hz: a box's band holds it), if any: a click on the plot there. */
  openAt(t: number, f: number) {
    const under = this.#host.fetchedClips().filter((c) => c.start_time <= t && t < c.end_time && (c.low_freq ?? 0) <= f && f <= (c.high_freq ?? Infinity));
    if (!under.length) return;
    const shortest = under.reduce((a, b) => (b.end_time - b.start_time < a.end_time - a.start_time ? b : a));
    void this.open(shortest.id, $("plot"));
  }

  /**
   * Selects clip `id` and shows it in the panel, as the server has it now. `from` gets the focus
   * back when the panel closes. `announce`: the page shows the clip (its features, its range
   * selected) — at once if it has fetched it — not when the panel merely refreshes it, nor for a
   * clip the page has just shown (created).
   */
  async open(id: string, from: HTMLElement | null, announce = true): Promise<void> {
    const another = id !== this.#selectedId;
    if (another) {
      // The note and tag typed are the previous clip's (kept until it is opened again); this one's own are shown.
      if (this.#selectedId) this.#keepDraft(this.#selectedId);
      this.#fillDraft(this.#drafts.get(id) ?? NO_DRAFT);
      this.#drafts.delete(id);
      this.#filled = null;
      this.#editor = null;
      this.#hiddenNotes = { archived: NO_HIDDEN_NOTES, trashed: NO_HIDDEN_NOTES };
      for (const state of HIDDEN_STATES) $<HTMLDetailsElement>(`clip-panel-${state}`).open = false;
    }
    this.#selectedId = id;
    this.#scopeTags = null;
    this.#returnTo = from;
    this.#mark();
    const fetched = announce ? this.#host.fetchedClips().find((c) => c.id === id) : undefined;
    if (fetched) this.#host.shown(fetched);
    const signal = this.#loads.start();
    // Without a token, or with one refused, nobody: the clip and every note are read-only.
    const me = this.#host.user();
    // A refresh lists again as many as were listed (Show more), in one page: the list stays as long.
    const listed = this.#hiddenNotes;
    const limit = (state: HiddenState) => Math.min(API_MAX_LIMIT, Math.max(HIDDEN_NOTES_PAGE, listed[state].fetched));
    let clip: PanelClip, archived: HiddenNotes, trashed: HiddenNotes;
    try {
      [clip, archived, trashed, this.#me] = await Promise.all([
        this.#host.api<PanelClip>(`/v1/clips/${encodeURIComponent(id)}`, { signal }),
        this.#fetchHiddenNotes(id, "archived", {}, 0, limit("archived"), signal),
        me.then((user) => (user && mayWrite(user) ? this.#fetchHiddenNotes(id, "trashed", restorableBy(user), 0, limit("trashed"), signal) : NO_HIDDEN_NOTES)),
        me,
      ]);
    } catch (err) {
      if (signal.aborted) return;
      const status = (err as { status?: number }).status;
      if (status === 404) {
        this.close(false);
        this.#forgetDraft(id); // nothing to save it on
        this.#say(`the clip selected no longer exists: it was deleted (elsewhere)`, true);
        this.#host.deleted(id);
      } else void this.#fail("the clip cannot be shown", err as Error);
      return;
    }
    // A Show more that landed meanwhile listed more than this refresh asked for: ask again, for as many.
    // (Only while this is still the load of the clip shown: opening another clip resets the notes too.)
    if (signal.aborted || this.#selectedId !== id) return;
    if (HIDDEN_STATES.some((state) => this.#hiddenNotes[state] !== listed[state])) return this.open(id, from, announce && !fetched); // announced once
    this.#hiddenNotes = { archived, trashed };
    this.#show(clip);
    if (announce && !fetched) this.#host.shown(clip);
    if (another) this.#clearError(); // a clip opened (or made) since: the error was of something before
  }

  /** Closes the panel, nothing selected; `refocus`: the focus goes back where the panel was opened from. */
  close(refocus: boolean) {
    this.#loads.cancel();
    if (this.#selectedId) this.#keepDraft(this.#selectedId);
    this.#fillDraft(NO_DRAFT);
    const back = this.#returnTo;
    this.#selectedId = null;
    this.#clip = null;
    this.#returnTo = null;
    $("clip-panel").hidden = true;
    this.#mark();
    this.#guardUnsaved();
    if (refocus) (back?.isConnected ? back : this.#listButton() ?? $("plot")).focus();
  }

  /** The list's button of the selected clip, if it is listed. */
  #listButton(id = this.#selectedId): HTMLButtonElement | null {
    return id ? $("clip-list").querySelector<HTMLButtonElement>(`button[data-clip-id="${id}"]`) : null;
  }

  /** Marks the selected clip's box and list button (and no other). */
  #mark() {
    for (const box of document.querySelectorAll<HTMLElement>("#clips div")) box.classList.toggle("selected", box.dataset.clipId === this.#selectedId);
    const buttons = [...document.querySelectorAll<HTMLButtonElement>("#clip-list button")];
    const chosen = buttons.find((b) => b.dataset.clipId === this.#selectedId);
    for (const b of buttons) {
      b.setAttribute("aria-pressed", String(b === chosen));
      if (chosen) b.tabIndex = b === chosen ? 0 : -1; // the list's Tab stop follows the selection
    }
  }

  /** The arrow keys, Home and End move through the clips listed, selecting each; Escape closes the panel. */
  #listKey(e: KeyboardEvent) {
    const buttons = [...$("clip-list").querySelectorAll<HTMLButtonElement>("button")];
    const at = buttons.indexOf(e.target as HTMLButtonElement);
    if (at < 0 || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      if (this.#selectedId) this.close(false);
      return;
    }
    const to = ({ ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 } as Record<string, number>)[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, to))];
    for (const b of buttons) b.tabIndex = b === next ? 0 : -1;
    next.focus();
    void this.open(next.dataset.clipId!, next);
  }

  /** Fills the panel with `clip`: its bounds (a field being edited kept while its bound stays), tags and notes. */
  #show(clip: PanelClip) {
    this.#clip = clip;
    const panel = $("clip-panel");
    panel.hidden = false;
    panel.dataset.clipId = clip.id;
    $("clip-panel-title").textContent = `Clip ${this.#bounds(clip)}${clip.state === "active" ? "" : ` (${clip.state}: read-only)`}`;
    const before = this.#filled;
    if (!before || BOUND_NAMES.some((name) => clip[name] !== before.bounds[name])) {
      const shown = boundTexts(clip, this.#host.recording()!); // a clip is shown in the recording open
      for (const name of BOUND_NAMES) {
        const input = $<HTMLInputElement>(BOUND_FIELDS[name]);
        // A field typed in since, whose bound this change leaves as it was, keeps the typing: the
        // answer of a Move sent before it overwrote it, and the next Move found nothing edited.
        const typing = before && input.value !== before.shown[name] && clip[name] === before.bounds[name];
        if (!typing) input.value = shown[name];
      }
      this.#filled = { bounds: Object.fromEntries(BOUND_NAMES.map((name) => [name, clip[name]])) as Record<BoundName, number | null>, shown };
    }
    this.#guardUnsaved();
    // Only what the API lets the user do is offered (another member clicked Move or Delete, and got a 403).
    const writable = this.#writable(clip);
    const writes = writable && mayWrite(this.#me), changes = writable && mayChangeWorkOf(this.#me, clip.created_by);
    $("clip-panel-creator").textContent = this.#creatorText(clip);
    $("clip-panel-bounds").hidden = !changes;
    $("clip-panel-delete").hidden = !changes;
    $("clip-panel-tag-form").hidden = !writes;
    $("clip-panel-note-form").hidden = !writes;
    $("clip-panel-tags").replaceChildren(...(clip.tags.length ? clip.tags.map((t) => {
      if (!writes) return el("li", "", el("span", "tag", tagText(t)));
      const remove = el("button", "", "×");
      remove.setAttribute("aria-label", `Remove tag ${tagText(t)}`);
      remove.title = `Remove tag ${tagText(t)}`;
      remove.onclick = () => void this.#removeTag(t, remove);
      return el("li", "", el("span", "tag", tagText(t)), remove);
    }) : [el("li", "none", "No tags.")]));
    this.#showNotes(clip);
    $("clip-panel-note-count").textContent = `(${clip.notes.length})`;
  }

  /** Whether `clip` may be changed at all, by anyone: it is active, and the recording open is not read-only (host.readOnly). */
  #writable(clip: PanelClip): boolean {
    return clip.state === "active" && this.#host.readOnly() === null;
  }

  /**
   * Whose the clip is ("you" for the user's own) and, where the panel offers less than everything
   * on an active clip, why: its recording is read-only (archived or trashed, or its dataset), only
   * its creator or an admin moves or deletes it, a viewer's token only reads, and without a token
   * nothing is written. Read-only clips say so in the title.
   */
  #creatorText(clip: PanelClip): string {
    const me = this.#me;
    const creator = clip.created_by !== null && clip.created_by === me?.id ? "you" : clip.created_by_username;
    const created = creator ? `Created by ${creator}` : "No creator on record";
    if (clip.state !== "active") return `${created}.`;
    const readOnly = this.#host.readOnly();
    if (readOnly) return `${created}. ${readOnly}: its clips are read-only.`;
    if (!me) return `${created}. Enter a member's API token at the top to tag it, write notes on it, move or delete it.`;
    if (!mayWrite(me)) return `${created}. ${viewerOnly(me)} to change it.`;
    if (!mayChangeWorkOf(me, clip.created_by)) return `${created}: only ${creator ? "its creator or " : ""}an admin may move or delete it — tag it, or write a note for its creator.`;
    return `${created}.`;
  }

  /**
   * Lists the clip's notes, oldest first — message, whether it is an issue, author and time — and
   * under them, collapsed, its archived ones and the trashed ones the user may restore, newest
   * first (the API's order: Show more adds older ones at the end). The author is the username the
   * note carries, as every reader sees it: a user record (GET /v1/users/{id}) needs a token beyond
   * loopback, and showed its name to some readers only. A control of a note focused before keeps the focus
   * (a refresh), unless a change said where it goes.
   */
  #showNotes(clip: PanelClip) {
    const focused = document.activeElement as HTMLElement | null;
    const inNote = focused?.closest<HTMLElement>("#clip-panel li[data-note-id]");
    const focusTo = this.#focusNext ?? (inNote && focused?.dataset.control ? { noteId: inNote.dataset.noteId!, control: focused.dataset.control } : null);
    this.#focusNext = null;
    // A form whose note went read-only — with its clip or recording, or itself archived or trashed
    // elsewhere (its Save a 409) — is kept, not shown: restored, it shows again as typed. One whose
    // note is listed but another's to change (the token changed) is dropped.
    if (this.#editor && clip.notes.some((n) => n.id === this.#editor!.noteId && !mayChangeWorkOf(this.#me, n.created_by))) this.#editor = null;
    $("clip-panel-notes").replaceChildren(...(clip.notes.length ? clip.notes.map((n) => this.#noteItem(n, null)) : [el("li", "none", "No notes.")]));
    for (const state of HIDDEN_STATES) this.#showHiddenNotes(state, clip);
    if (focusTo) focusOn(focusTo);
  }

  /**
   * Lists the clip's notes in `state` under their collapsed summary, which counts them (the
   * server's total, less those it listed that the panel lists elsewhere) and, while the server
   * holds more than were fetched, Show more. Trashed notes only on a clip that may be changed:
   * under an archived one, or on a read-only recording, nothing is restored.
   */
  #showHiddenNotes(state: HiddenState, clip: PanelClip) {
    const { notes, fetched, total } = this.#hiddenNotes[state];
    const count = total - (fetched - notes.length);
    $(`clip-panel-${state}-notes`).replaceChildren(...notes.map((n) => this.#noteItem(n, state)));
    $(`clip-panel-${state}`).hidden = count <= 0 || (state === "trashed" && !this.#writable(clip));
    $(`clip-panel-${state}-count`).textContent = `(${count})`;
    const more = $(`clip-panel-${state}-more`);
    more.hidden = fetched >= total;
    more.textContent = `Show ${Math.min(HIDDEN_NOTES_PAGE, total - fetched)} more (${notes.length} of ${count} listed)`;
  }

  /**
   * A page of clip `clipId`'s notes in `state` (GET /v1/notes, newest first) from `offset`, at most
   * `limit`, among those `filter` lets through (restorableBy). Listed by their own state: the API
   * lists them by their effective one, under an archived clip its active notes too.
   */
  #fetchHiddenNotes(clipId: string, state: HiddenState, filter: Record<string, string>, offset: number, limit: number, signal?: AbortSignal): Promise<HiddenNotes> {
    const query = new URLSearchParams({ clip_id: clipId, state, ...filter, offset: String(offset), limit: String(limit) });
    return this.#host.api<{ items: ListedNote[]; total: number }>(`/v1/notes?${query}`, { signal })
      .then((page) => ({ notes: page.items.filter((n) => n.state === state), fetched: offset + page.items.length, total: page.total }));
  }

  /** Lists the next page of the clip's notes in `state` under those listed; the focus stays on Show more, or once all are listed goes to their summary. */
  async #showMoreNotes(state: HiddenState) {
    const clip = this.#clip, me = this.#me;
    // Trashed notes are listed for a user (restorableBy) only.
    if (!clip || (state === "trashed" && !me)) return;
    const listed = this.#hiddenNotes[state];
    let next: HiddenNotes;
    try {
      next = await this.#fetchHiddenNotes(clip.id, state, state === "trashed" ? restorableBy(me!) : {}, listed.fetched, HIDDEN_NOTES_PAGE);
    } catch (err) {
      void this.#fail(`no more ${state} notes listed`, err as Error);
      return;
    }
    // Another clip opened, or these notes listed anew (a refresh, another Show more) meanwhile: this page follows a list no longer shown.
    if (this.#selectedId !== clip.id || this.#hiddenNotes[state] !== listed) return;
    this.#hiddenNotes = { ...this.#hiddenNotes, [state]: { notes: [...listed.notes, ...next.notes], fetched: next.fetched, total: next.total } };
    this.#relistNotes({ id: next.fetched < next.total ? `clip-panel-${state}-more` : `clip-panel-${state}-summary` });
  }

  /** Whether the page's user may edit, archive, trash or restore note `n`: its creator (a member) or an admin, the API's rule, on a clip that is not read-only (#writable). */
  #mayChange(n: Note): boolean {
    return this.#clip !== null && this.#writable(this.#clip) && mayChangeWorkOf(this.#me, n.created_by);
  }

  /**
   * A note's list item: message, issue, author and time (one `hidden` — archived or trashed —
   * marked so) and, for those who may change it, its buttons — Edit, Archive and Trash…, or
   * Restore if hidden — each described by the message; the note being edited shows its form
   * instead of its message.
   */
  #noteItem(n: Note, hidden: HiddenState | null): HTMLLIElement {
    const message = el("p", "message", n.message);
    message.id = `note-${n.id}-message`;
    const time = el("time", "", new Date(n.created_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    time.dateTime = n.created_at;
    const about = el("small", "", ...(hidden ? [el("strong", "state", hidden), " · "] : []), ...(n.is_issue ? [el("strong", "issue", "issue"), " · "] : []),
      el("span", "author", n.created_by_username ?? "no user"), " · ", time);
    const li = el("li", hidden ?? "", message, about);
    li.dataset.noteId = n.id;
    if (!this.#mayChange(n)) return li;
    if (this.#editor?.noteId === n.id) {
      message.replaceWith(this.#editor.form);
      return li;
    }
    const button = (text: string, control: string, title: string, act: () => void) => {
      const b = el("button", "", text);
      b.dataset.control = control;
      b.title = title;
      b.setAttribute("aria-describedby", message.id);
      b.onclick = act;
      return b;
    };
    const actions = el("div", "note-actions", ...(hidden
      ? [button("Restore", "restore", "Bring this note back among the clip's notes", () => void this.#changeNoteState(n, "restore"))]
      : [
        button("Edit", "edit", "Edit this note's message and whether it is an issue", () => this.#editNote(n)),
        button("Archive", "archive", "Archive this note: kept for the record, read-only, listed under Archived notes", () => void this.#changeNoteState(n, "archive")),
        button("Trash…", "trash", "Move this note to the trash: hidden, and deleted for good when the trash is purged", () => void this.#changeNoteState(n, "trash")),
      ]));
    actions.setAttribute("role", "group");
    actions.setAttribute("aria-label", "Change the note");
    li.append(actions);
    return li;
  }

  /**
   * Says on the status line why `what` failed: the API's message, and for a refusal which token
   * to give — a viewer's token only reads (its 403 names the role the user lacks). A 409 (the
   * clip, a note, the recording or its dataset archived meanwhile, say) has the page read the
   * recording's and its dataset's state again, and the panel the clip and its notes: the controls
   * they leave no use of go, saying why (each further click was another 409).
   */
  async #fail(what: string, err: Error) {
    const status = (err as { status?: number }).status;
    let hint = "";
    if (status === 401) hint = " — enter a member's API token at the top";
    else if (status === 403) {
      const me = await this.#host.askUserAgain();
      if (me?.role === "viewer") hint = ` — ${viewerOnly(me)}`;
    } else if (status === 409) {
      this.#host.conflicted();
      this.refresh();
    }
    this.#say(`${what}: ${err.message}${hint}`, true);
  }

  /**
   * Moves the clip to the bounds typed (PATCH /v1/clips/{id}): the fields edited alone, each with
   * its value as the panel read it (`expected`) — an empty frequency field removes that bound. The
   * server checks them against each other and the recording, and against the clip as it is: one
   * another moved meanwhile is said (#movedMeanwhile), not overwritten. The panel sent all four,
   * those not edited as it had read them, and reverted another's move of them unseen.
   */
  async #move() {
    const clip = this.#clip;
    if (!clip) return;
    const inputs = boundInputs();
    const { start_time: start, end_time: end, low_freq: low, high_freq: high } = inputs;
    for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
    const empty = [start, end].find((i) => !Number.isFinite(i.valueAsNumber));
    // A number field holding text the browser cannot read as one has the value "" but is not empty to the eye.
    const unreadable = [low, high].find((i) => i.value === "" && i.validity.badInput);
    if (empty || unreadable) {
      (empty ?? unreadable)!.setAttribute("aria-invalid", "true");
      this.#say(`clip not moved: ${empty ? `${empty === start ? "start" : "end"} must be a number of seconds` : `${unreadable === low ? "low" : "high"} must be a number of Hz, or empty for none`}`, true);
      return;
    }
    // A field as it was filled holds the bound rounded, and is not sent: Move unedited moved the
    // clip by the rounding.
    const edited = this.#boundsEdited();
    if (!edited.length) {
      this.#say("clip not moved: no bound was edited");
      return;
    }
    const body = {
      ...Object.fromEntries(edited.map((name) => [name, inputs[name].value === "" ? null : inputs[name].valueAsNumber])),
      expected: Object.fromEntries(edited.map((name) => [name, clip[name]])),
    };
    try {
      const moved = await this.#host.api<PanelClip & { stale_feature_values_removed: number }>(`/v1/clips/${clip.id}`, { method: "PATCH", body: JSON.stringify(body) });
      if (this.#selectedId !== moved.id) return;
      this.#show(moved);
      this.#host.moved(moved, BOUND_NAMES.some((name) => moved[name] !== clip[name]));
      const stale = moved.stale_feature_values_removed;
      this.#say(`clip moved to ${this.#bounds(moved)}${stale ? `: ${stale} feature value${stale === 1 ? "" : "s"} computed for its bounds before removed, computed again` : ""}`);
    } catch (err) {
      const fields = (err as { fields?: { field: string }[] }).fields ?? [];
      const meanwhile = fields.map((f) => /^expected\.(\w+)$/.exec(f.field)?.[1]).filter((name): name is BoundName => BOUND_NAMES.includes(name as BoundName));
      if (meanwhile.length) return this.#movedMeanwhile(clip, edited, meanwhile);
      for (const f of fields) (Object.entries(inputs).find(([name]) => f.field.endsWith(name))?.[1] ?? end).setAttribute("aria-invalid", "true");
      void this.#fail("clip not moved", err as Error);
    }
  }

  /**
   * A move refused (409) because another moved bounds `changed` of clip `read` since the panel
   * read them: the clip is shown as it is now, the bounds the user edited (`edited`) kept as typed
   * — Move again applies them over the bounds now known — and the status line says what changed.
   */
  async #movedMeanwhile(read: PanelClip, edited: BoundName[], changed: BoundName[]) {
    const inputs = boundInputs();
    const typed = edited.map((name) => [name, inputs[name].value] as const);
    await this.open(read.id, this.#returnTo, false);
    const now = this.#clip;
    if (this.#selectedId !== read.id || now?.id !== read.id) return;
    for (const [name, text] of typed) inputs[name].value = text;
    for (const name of changed) inputs[name].setAttribute("aria-invalid", "true");
    // The page too (its box, list, features heading, selection): it kept the bounds as read.
    this.#host.moved(now, false);
    const what = changed.map((name) => `its ${BOUND_WORDS[name]} was moved meanwhile by another (${boundValue(name, now[name])} now, ${boundValue(name, read[name])} as read)`).join("; ");
    const edits = typed.length === 1 ? "your edit kept: Move clip again to apply it" : "your edits kept: Move clip again to apply them";
    this.#say(`clip not moved: ${what} — the fields show the clip as it is now, with ${edits}`, true);
    this.#guardUnsaved();
  }

  /** The bound fields the user edited: those no longer showing what they were filled with. */
  #boundsEdited(): BoundName[] {
    const filled = this.#filled;
    if (!filled) return [];
    const inputs = boundInputs();
    return BOUND_NAMES.filter((name) => inputs[name].value !== filled.shown[name]);
  }

  /** A clip's bounds as the panel says them: the times to the digits that tell it apart in the recording open (timeRangeText). */
  #bounds(c: Pick<ListedClip, BoundName>): string {
    return bounds(c, this.#host.recording());
  }

  /** Writes the status line (`error`: in red), remembering an error said (#clearError). */
  #say(text: string, error = false) {
    this.#host.setStatus(text, error);
    this.#errorSaid = error ? text : null;
  }

  /** Takes the panel's last error off the status line, if it is still there: a later success (a clip opened) follows it. It stayed, red, over the clip made next. */
  #clearError() {
    if (this.#errorSaid !== null && $("status").textContent === this.#errorSaid) this.#host.setStatus("");
    this.#errorSaid = null;
  }

  /** The note and tag fields as typed. */
  #typed(): Draft {
    return {
      note: $<HTMLTextAreaElement>("clip-panel-note").value, issue: $<HTMLInputElement>("clip-panel-issue").checked,
      tagKey: $<HTMLInputElement>("clip-panel-tag-key").value, tagValue: $<HTMLInputElement>("clip-panel-tag-value").value,
    };
  }

  /** Puts draft `d` in the note and tag fields. */
  #fillDraft(d: Draft) {
    $<HTMLTextAreaElement>("clip-panel-note").value = d.note;
    $<HTMLInputElement>("clip-panel-issue").checked = d.issue;
    $<HTMLInputElement>("clip-panel-tag-key").value = d.tagKey;
    $<HTMLInputElement>("clip-panel-tag-value").value = d.tagValue;
  }

  /** Keeps what the note and tag fields hold as clip `id`'s draft. */
  #keepDraft(id: string) {
    this.#storeDraft(id, this.#typed());
  }

  /** Keeps `d` as clip `id`'s draft (none, if it is empty). */
  #storeDraft(id: string, d: Draft) {
    if (isEmpty(d)) this.#drafts.delete(id);
    else this.#drafts.set(id, d);
  }

  /** Drops clip `id`'s draft: the clip is gone. */
  #forgetDraft(id: string) {
    this.#drafts.delete(id);
    this.#guardUnsaved();
  }

  /** Changes clip `id`'s draft by `change` (what was saved taken out of it): in the fields if it is the clip shown, else where it is kept. */
  #draftSaved(id: string, change: (d: Draft) => Draft) {
    if (this.#selectedId === id) this.#fillDraft(change(this.#typed()));
    else {
      const kept = this.#drafts.get(id);
      if (kept) this.#storeDraft(id, change(kept));
    }
    this.#guardUnsaved();
  }

  /** Whether anything typed would be lost with the page: a draft of the clip shown or of another (holdsWork), or bounds edited and not moved. */
  #unsaved(): boolean {
    if (this.#selectedId !== null && (holdsWork(this.#typed()) || this.#boundsEdited().length > 0)) return true;
    return [...this.#drafts.values()].some(holdsWork);
  }

  /**
   * Has the browser ask before the page is left or reloaded (beforeunload) while something typed is
   * unsaved (#unsaved), and only then: a page with the handler set is kept out of the
   * back-forward cache, and one always asking is a question nobody reads.
   */
  #guardUnsaved() {
    const unsaved = this.#unsaved();
    if (unsaved === this.#guarding) return;
    this.#guarding = unsaved;
    if (unsaved) window.addEventListener("beforeunload", this.#askBeforeLeaving);
    else window.removeEventListener("beforeunload", this.#askBeforeLeaving);
  }

  /** Tags the clip with the key and value typed (POST /v1/clips/{id}/tags: the tag is created if new); the value field is emptied for the next. */
  async #addTag() {
    const clip = this.#clip;
    if (!clip) return;
    const key = $<HTMLInputElement>("clip-panel-tag-key"), value = $<HTMLInputElement>("clip-panel-tag-value");
    const tag = { key: key.value.trim(), value: value.value.trim() };
    if (!tag.key || !tag.value) {
      this.#say("tag not added: a tag needs a key and a value", true);
      (tag.key ? value : key).focus();
      return;
    }
    try {
      const tagged = await this.#host.api<PanelClip>(`/v1/clips/${clip.id}/tags`, { method: "POST", body: JSON.stringify(tag) });
      this.#draftSaved(clip.id, (d) => (d.tagValue.trim() === tag.value ? { ...d, tagValue: "" } : d));
      if (this.#selectedId !== tagged.id) return;
      this.#show(tagged);
      this.#say(`tag ${tagText(tag)} added to clip ${this.#bounds(tagged)}`);
    } catch (err) {
      void this.#fail("tag not added", err as Error);
    }
  }

  /** Takes tag `t` off the clip; the focus goes to the next tag's button, else to the key field. */
  async #removeTag(t: Tag, button: HTMLButtonElement) {
    const clip = this.#clip;
    if (!clip) return;
    const after = [...$("clip-panel-tags").querySelectorAll("button")].indexOf(button);
    try {
      const untagged = await this.#host.api<PanelClip>(`/v1/clips/${clip.id}/tags?${new URLSearchParams({ key: t.key, value: t.value })}`, { method: "DELETE" });
      if (this.#selectedId !== untagged.id) return;
      this.#show(untagged);
      const buttons = $("clip-panel-tags").querySelectorAll("button");
      (buttons[Math.min(after, buttons.length - 1)] ?? $("clip-panel-tag-key")).focus();
      this.#say(`tag ${tagText(t)} removed from clip ${this.#bounds(untagged)}`);
    } catch (err) {
      void this.#fail("tag not removed", err as Error);
    }
  }

  /** Writes the note typed on the clip (POST /v1/notes), an issue if so marked; it is listed under the others. */
  async #addNote() {
    const clip = this.#clip;
    if (!clip) return;
    const text = $<HTMLTextAreaElement>("clip-panel-note"), issue = $<HTMLInputElement>("clip-panel-issue");
    if (!text.value.trim()) {
      this.#say("note not added: write its message first", true);
      text.focus();
      return;
    }
    let note: Note;
    const sent = text.value;
    try {
      note = await this.#host.api<Note>("/v1/notes", { method: "POST", body: JSON.stringify({ clip_id: clip.id, message: sent, is_issue: issue.checked }) });
    } catch (err) {
      void this.#fail("note not added", err as Error);
      return;
    }
    this.#say(`${note.is_issue ? "issue" : "note"} added to clip ${this.#bounds(clip)}`);
    // Taken out of the clip's draft, wherever it is now (another clip opened meanwhile: kept apart), unless typed on since.
    this.#draftSaved(clip.id, (d) => (d.note === sent ? { ...d, note: "", issue: false } : d));
    if (this.#selectedId !== clip.id) return;
    // The clip as the server has it now, not the note appended to the one shown: the panel closed and
    // opened meanwhile holds none until its fetch answers (the note was said not added, though it was),
    // and a refresh answered meanwhile (the window's focus) holds the note already (it was listed twice).
    await this.open(clip.id, this.#returnTo, false);
  }

  /** Opens note `n`'s form in its item, its message focused: Save (or Enter off the message) saves it, Cancel or Escape leaves it as it was. */
  #editNote(n: Note) {
    const text = el("textarea", "");
    text.value = n.message;
    text.maxLength = 1000;
    text.rows = 3;
    text.dataset.control = "message";
    const issue = el("input", "");
    issue.type = "checkbox";
    issue.checked = n.is_issue;
    issue.dataset.control = "is_issue";
    const save = el("button", "", "Save");
    save.dataset.control = "save";
    const cancel = el("button", "", "Cancel");
    cancel.type = "button";
    cancel.dataset.control = "cancel";
    cancel.onclick = () => this.#endEdit(n.id);
    const form = el("form", "note-edit", el("label", "note", "message ", text), el("label", "issue", issue, " an issue"), save, cancel);
    form.setAttribute("aria-label", "Edit the note");
    form.addEventListener("submit", (e) => { e.preventDefault(); void this.#saveNote(n.id, text, issue); });
    form.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      e.preventDefault();
      e.stopPropagation(); // the edit ends, not the panel
      this.#endEdit(n.id);
    });
    this.#editor = { noteId: n.id, form };
    this.#relistNotes({ noteId: n.id, control: "message" });
  }

  /** Closes note `noteId`'s form unsaved, the focus back on its Edit button. */
  #endEdit(noteId: string) {
    this.#editor = null;
    this.#relistNotes({ noteId, control: "edit" });
  }

  /** Lists the clip's notes anew as the panel holds them, the focus then on `focusTo`. */
  #relistNotes(focusTo: FocusTarget) {
    if (!this.#clip) return;
    this.#focusNext = focusTo;
    this.#showNotes(this.#clip);
  }

  /** Saves the message and flag in note `noteId`'s form (PATCH /v1/notes/{id}: its creator or an admin); refused, the form stays as typed. */
  async #saveNote(noteId: string, text: HTMLTextAreaElement, issue: HTMLInputElement) {
    const clip = this.#clip;
    if (!clip) return;
    if (!text.value.trim()) {
      this.#say("note not saved: write its message first", true);
      text.focus();
      return;
    }
    try {
      await this.#host.api<Note>(`/v1/notes/${noteId}`, { method: "PATCH", body: JSON.stringify({ message: text.value, is_issue: issue.checked }) });
    } catch (err) {
      void this.#fail("note not saved", err as Error);
      return;
    }
    if (this.#editor?.noteId === noteId) this.#editor = null;
    this.#say(`note edited on clip ${this.#bounds(clip)}`);
    await this.#reopen(clip, { noteId, control: "edit" });
  }

  /**
   * Archives, restores or trashes note `n` (POST /v1/notes/{id}/<action>: its creator or an
   * admin) — a trash once confirmed, as a clip's deletion: it is purged later. The focus goes to
   * Archived notes after an archive, to the note's Edit button after a restore, and to the note
   * beside after a trash (else the new note's field).
   */
  async #changeNoteState(n: Note, action: NoteStateAction) {
    const clip = this.#clip;
    if (!clip) return;
    if (action === "trash" && !confirm(`Move the note “${quoted(n.message)}” to the trash? It is hidden at once, and deleted for good when the trash is purged.`)) return;
    const item = $("clip-panel-notes").querySelector<HTMLElement>(`li[data-note-id="${n.id}"]`);
    const beside = (item?.nextElementSibling ?? item?.previousElementSibling) as HTMLElement | null | undefined;
    try {
      await this.#host.api<ListedNote>(`/v1/notes/${n.id}/${action}`, { method: "POST" });
    } catch (err) {
      void this.#fail(`note not ${NOTE_STATE_ACTIONS[action]}`, err as Error);
      return;
    }
    const on = `on clip ${this.#bounds(clip)}`;
    this.#say({
      archive: `note archived ${on}: read-only, listed under Archived notes`,
      restore: `note restored ${on}`,
      trash: `note trashed ${on}: listed under Trashed notes, to restore until the trash is purged`,
    }[action]);
    await this.#reopen(clip, {
      archive: { id: "clip-panel-archived-summary" },
      restore: { noteId: n.id, control: "edit" },
      trash: beside?.dataset.noteId ? { noteId: beside.dataset.noteId, control: "trash" } : { id: "clip-panel-note" },
    }[action]);
  }

  /** Shows clip `clip` as the server has it after a change of one of its notes (if it is still the one selected), the focus then on `focusTo`. */
  async #reopen(clip: PanelClip, focusTo: FocusTarget) {
    if (this.#selectedId !== clip.id) return;
    this.#focusNext = focusTo;
    await this.open(clip.id, this.#returnTo, false);
    this.#focusNext = null; // not shown (the clip gone, or refused): no later listing takes the focus
  }

  /** Deletes the clip for good (DELETE /v1/clips/{id}, its creator or an admin), once confirmed: its tags, features and notes go with it. */
  async #delete() {
    const clip = this.#clip;
    if (!clip) return;
    const what = [clip.tags.length && `${clip.tags.length} tag${clip.tags.length === 1 ? "" : "s"}`, clip.notes.length && `${clip.notes.length} note${clip.notes.length === 1 ? "" : "s"}`].filter(Boolean);
    if (!confirm(`Delete the clip ${this.#bounds(clip)}${what.length ? ` with its ${what.join(" and ")}` : ""} for good?`)) return;
    try {
      await this.#host.api<null>(`/v1/clips/${clip.id}`, { method: "DELETE" });
    } catch (err) {
      void this.#fail("clip not deleted", err as Error);
      return;
    }
    // From the list, the focus goes to the clip beside (the list is drawn again without this one).
    const item = this.#listButton(clip.id)?.closest("li");
    const beside = (item?.nextElementSibling ?? item?.previousElementSibling)?.querySelector<HTMLButtonElement>("button");
    const fromList = this.#returnTo?.closest("#clip-list") != null;
    this.close(false);
    this.#forgetDraft(clip.id);
    this.#host.deleted(clip.id);
    if (fromList && beside) {
      beside.tabIndex = 0;
      beside.focus();
    } else $("plot").focus();
    this.#say(`clip ${this.#bounds(clip)} deleted`);
  }

  /**
   * The tag keys to complete (the browser's list narrows them as one types): those of the clips
   * the page holds (this recording's, most used first), then the tags in use on the recording
   * and its clips, in its dataset, and in the server's vocabulary (#scopeTags, by key), those
   * holding the text typed once there is some. Shown as the key field takes the focus and as it
   * is typed.
   */
  async #suggestKeys() {
    const typed = $<HTMLInputElement>("clip-panel-tag-key").value.trim();
    const signal = this.#keySuggestions.start();
    const tags = await this.#tagsInUse({ limit: SCOPE_TAGS, ...(typed ? { search: typed } : {}) }, signal);
    if (signal.aborted) return;
    // search finds the text in values too: keep the keys that hold it.
    const holding = (k: string) => k.toLowerCase().includes(typed.toLowerCase());
    fillDatalist("clip-panel-tag-keys", [...this.#localTags().map((t) => t.key), ...tags.map((t) => t.key).filter(holding)]);
  }

  /**
   * The values to complete for the key typed: those of this recording's clips first, then the
   * recording's, its dataset's and the vocabulary's of that key holding the text typed
   * (#scopeTags), shown as it is typed.
   */
  async #suggestValues() {
    const key = $<HTMLInputElement>("clip-panel-tag-key").value.trim();
    const typed = $<HTMLInputElement>("clip-panel-tag-value").value.trim();
    const signal = this.#valueSuggestions.start();
    if (!key) return fillDatalist("clip-panel-tag-values", []);
    const tags = await this.#tagsInUse({ key, limit: SUGGESTIONS, ...(typed ? { search: typed } : {}) }, signal);
    if (signal.aborted) return;
    // search finds the text in the key too: keep the values that hold it.
    const holding = (v: string) => v.toLowerCase().includes(typed.toLowerCase());
    fillDatalist("clip-panel-tag-values", [...this.#localTags().filter((t) => t.key === key).map((t) => t.value), ...tags.map((t) => t.value).filter(holding)]);
  }

  /**
   * The tags matching `q` in use on the recording open and its clips, then in its dataset, then
   * in the whole vocabulary, in that order: narrowed from #scopeTags, or for a scope holding more
   * than was fetched, asked of the server (GET /v1/tags?key&search; none of a request refused).
   */
  async #tagsInUse(q: TagQuery, signal: AbortSignal): Promise<Tag[]> {
    const recordingId = this.#host.recording()?.id;
    if (!this.#scopeTags || this.#scopeTags.recordingId !== recordingId) this.#scopeTags = { recordingId, lists: this.#fetchScopeTags() };
    const lists = await this.#scopeTags.lists;
    const query = (scope: Record<string, string>) => new URLSearchParams({ ...scope, limit: String(q.limit), ...(q.key === undefined ? {} : { key: q.key }), ...(q.search ? { search: q.search } : {}) });
    const pages = await Promise.all(lists.map((l) => l.whole
      ? matching(l.items, q)
      : this.#host.api<{ items: Tag[] }>(`/v1/tags?${query(l.scope)}`, { signal }).then((p) => p.items, () => [])));
    return pages.flat();
  }

  /** The first SCOPE_TAGS tags, by key, of the recording open (its own and its clips'), of its dataset and of the vocabulary; a scope refused is asked again as one types. */
  async #fetchScopeTags(): Promise<ScopeTags[]> {
    const recording = this.#host.recording();
    const scopes: Record<string, string>[] = [...(recording ? [{ recording_id: recording.id }, { dataset_id: recording.dataset_id }] : []), {}];
    return Promise.all(scopes.map((scope) => this.#host.api<{ items: Tag[]; total: number }>(`/v1/tags?${new URLSearchParams({ ...scope, limit: String(SCOPE_TAGS) })}`)
      .then((p) => ({ scope, items: p.items, whole: p.total <= p.items.length }), () => ({ scope, items: [], whole: false }))));
  }

  /** The tags of the clips the page holds and of the clip selected, most used first. */
  #localTags(): Tag[] {
    const uses = new Map<string, { tag: Tag; n: number }>();
    for (const c of [...this.#host.fetchedClips(), ...(this.#clip ? [this.#clip] : [])]) {
      for (const t of c.tags) {
        const k = JSON.stringify([t.key, t.value]);
        uses.set(k, { tag: t, n: (uses.get(k)?.n ?? 0) + 1 });
      }
    }
    return [...uses.values()].sort((a, b) => b.n - a.n).map((u) => u.tag);
  }
}

/** The panel's fields of a clip's bounds, by bound. */
function boundInputs(): Record<BoundName, HTMLInputElement> {
  return Object.fromEntries(BOUND_NAMES.map((name) => [name, $<HTMLInputElement>(BOUND_FIELDS[name])])) as Record<BoundName, HTMLInputElement>;
}

/** Focuses `target` — a note's control, or an element by id — or, the note gone or its control with it, the new note's field. */
function focusOn(target: FocusTarget) {
  const found = "id" in target ? document.getElementById(target.id) : document.querySelector<HTMLElement>(`#clip-panel li[data-note-id="${target.noteId}"] [data-control="${target.control}"]`);
  (found ?? $("clip-panel-note")).focus();
}

/** A note's message quoted in a question: on one line, its first QUOTED_CHARACTERS characters. */
function quoted(message: string): string {
  const line = message.replace(/\s+/g, " ").trim();
  return line.length > QUOTED_CHARACTERS ? `${line.slice(0, QUOTED_CHARACTERS - 1)}…` : line;
}

/** Replaces a datalist's options by `values`, each once, in their order. */
function fillDatalist(id: string, values: string[]) {
  $(id).replaceChildren(...[...new Set(values)].slice(0, 2 * SUGGESTIONS).map((v) => new Option(v, v)));
}
