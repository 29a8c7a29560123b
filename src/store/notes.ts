/** Notes: a message (1–1000 characters) on a recording, a clip or nothing, possibly flagged as an issue. */
import type { Queryable } from "./db.js";
import { creatorUsername, given, pageFirst, updating, writing, type Fragment, type KeysetPage, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
import { NotFoundError, invalid, translating } from "./errors.js";

export interface Note {
  id: string;
  message: string;
  is_issue: boolean;
  recording_id: string | null;
  clip_id: string | null;
  state: State;
  state_changed_at: string | null;
  created_at: string;
  created_by: string | null;
  /** Its author's username (null without one): usernames are shown to everyone, a user record only to a token. */
  created_by_username: string | null;
  run_id: string | null;
}

const COLUMNS = (db: Queryable) => db`n.id, n.message, n.is_issue, n.recording_id, n.clip_id, n.state, n.state_changed_at, n.created_at, n.created_by, ${creatorUsername(db, "n")} AS created_by_username, n.run_id`;

/** A note as the recording or clip it is on carries it. */
export interface CarriedNote {
  id: string;
  message: string;
  is_issue: boolean;
  created_at: string;
  created_by: string | null;
  created_by_username: string | null;
}

/**
 * SQL: the active notes on the row `owner` of a recordings or clips SELECT (`column`: the notes'
 * column naming it), oldest first, as JSON — a timestamp written as the others leave the store
 * (UTC ISO 8601 text, milliseconds).
 */
export function carriedNotes(db: Queryable, column: "recording_id" | "clip_id", owner: string) {
  return db`COALESCE((SELECT json_agg(json_build_object('id', n.id, 'message', n.message, 'is_issue', n.is_issue,
                                                         'created_at', to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'created_by', n.created_by,
                                                         'created_by_username', ${creatorUsername(db, "n")})
                                       ORDER BY n.created_at, n.id)
                       FROM notes n WHERE n.${db(column)} = ${db(owner)}.id AND n.state = 'active'), '[]')`;
}

export async function createNote(db: Queryable, n: { message: string; is_issue?: boolean; recording_id?: string | null; clip_id?: string | null } & Provenance): Promise<Note> {
  if (n.recording_id && n.clip_id) throw invalid("clip_id", "a note belongs to a recording or a clip, not both");
  const insert = async (tx: Queryable) => {
    const [row] = await translating(() => tx<Note[]>`
      INSERT INTO notes AS n (message, is_issue, recording_id, clip_id, created_by, run_id)
      VALUES (${n.message}, ${n.is_issue ?? false}, ${n.recording_id ?? null}, ${n.clip_id ?? null}, ${n.created_by}, ${n.run_id ?? null})
      RETURNING ${COLUMNS(tx)}`);
    return row;
  };
  if (n.recording_id) return writing(db, "recordings", n.recording_id, insert);
  if (n.clip_id) return writing(db, "clips", n.clip_id, insert);
  // One on neither was written, and no view showed it (a recording and a clip list their own notes).
  throw invalid("recording_id", "a note belongs to a recording or a clip: give recording_id or clip_id");
}

export async function getNote(db: Queryable, id: string): Promise<Note> {
  const [row] = await translating(() => db<Note[]>`SELECT ${COLUMNS(db)} FROM notes n WHERE n.id = ${id}`);
  if (!row) throw new NotFoundError("note", id);
  return row;
}

export interface NoteQuery extends PageRequest {
  state: StateFilter;
  /** Only the notes on this recording — and, with include_clips, on its clips. */
  recording_id?: string;
  /**
   * With recording_id: the notes on the recording's clips too (each says its clip_id), as an
   * annotation front end shows everything said about a recording. Without it, the recording's own.
   */
  include_clips?: boolean;
  clip_id?: string;
  is_issue?: boolean;
  /** Only the notes this user wrote: those a member may archive, trash or restore (the viewer's trashed notes). */
  created_by?: string;
  /**
   * Where the page begins: after the last note of the page whose `next_cursor` this is (of the same
   * filters), instead of at `offset` (then 0) — notes written or deleted meanwhile shift no page.
   */
  cursor?: string;
}

/**
 * The values listNotes selects by, in a fixed order (a cursor's Keyset.filters): one changed is
 * another listing. include_clips as the listing reads it: left out, the recording's own notes, as
 * with false.
 */
function noteFilterValues(q: NoteQuery): unknown[] {
  return [q.recording_id, q.include_clips === true, q.clip_id, q.is_issue, q.created_by];
}

/** A page of notes matching every filter given, newest first, by offset or after a cursor. */
export async function listNotes(db: Queryable, q: NoteQuery): Promise<KeysetPage<Note>> {
  if (q.include_clips && q.recording_id === undefined) throw invalid("include_clips", "needs recording_id: the notes on the clips of which recording");
  const where = db`${given(db, q.recording_id, (id) => (q.include_clips ? onRecordingOrItsClips(db, id) : db`n.recording_id = ${id}`))}
    AND ${given(db, q.clip_id, (id) => db`n.clip_id = ${id}`)}
    AND ${given(db, q.is_issue, (issue) => db`n.is_issue = ${issue}`)}
    AND ${given(db, q.created_by, (user) => db`n.created_by = ${user}`)}`;
  return pageFirst<Note>(db, {
    ...q, table: "notes", alias: "n", where, select: db`SELECT ${COLUMNS(db)} FROM notes n`, sort: "created_at", then: [], order: "desc", nullsLast: [],
    keyset: { after: q.cursor, filters: noteFilterValues(q) },
  });
}

/**
 * SQL condition: note n is on the recording or on one of its clips. Each as a lookup of its own
 * index (notes_recording; clips_recording then notes_clip), not `recording_id = $1 OR clip_id IN
 * (…)`, under which the planner reads every note.
 */
function onRecordingOrItsClips(db: Queryable, recordingId: string): Fragment {
  return db`n.id IN (SELECT id FROM notes WHERE recording_id = ${recordingId}
                     UNION ALL SELECT on_clip.id FROM clips c JOIN notes on_clip ON on_clip.clip_id = c.id WHERE c.recording_id = ${recordingId})`;
}

export async function updateNote(db: Queryable, id: string, patch: { message?: string; is_issue?: boolean }): Promise<Note> {
  return updating(db, "notes", id, async (tx) => {
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
    if (Object.keys(fields).length) await translating(() => tx`UPDATE notes SET ${tx(fields, ...Object.keys(fields))} WHERE id = ${id}`);
    return getNote(tx, id);
  });
}
