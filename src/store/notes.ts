/** Notes: a message (1–1000 characters) on a recording, a clip or nothing, possibly flagged as an issue. */
import type { Queryable } from "./db.js";
import { writing, effectiveState, stateCondition, toPage, type Page, type PageRequest, type Provenance, type State, type StateFilter } from "./common.js";
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
  run_id: string | null;
}

const COLUMNS = (db: Queryable) => db`id, message, is_issue, recording_id, clip_id, state, state_changed_at, created_at, created_by, run_id`;

/** A note as the recording or clip it is on carries it. */
export interface CarriedNote {
  id: string;
  message: string;
  is_issue: boolean;
  created_at: string;
  created_by: string | null;
}

/**
 * SQL: the active notes on the row `owner` of a recordings or clips SELECT (`column`: the notes'
 * column naming it), oldest first, as JSON — a timestamp written as the others leave the store
 * (UTC ISO 8601 text, milliseconds).
 */
export function carriedNotes(db: Queryable, column: "recording_id" | "clip_id", owner: string) {
  return db`COALESCE((SELECT json_agg(json_build_object('id', n.id, 'message', n.message, 'is_issue', n.is_issue,
                                                         'created_at', to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'created_by', n.created_by)
                                       ORDER BY n.created_at, n.id)
                       FROM notes n WHERE n.${db(column)} = ${db(owner)}.id AND n.state = 'active'), '[]')`;
}

export async function createNote(db: Queryable, n: { message: string; is_issue?: boolean; recording_id?: string | null; clip_id?: string | null } & Provenance): Promise<Note> {
  if (n.recording_id && n.clip_id) throw invalid("clip_id", "a note belongs to a recording or a clip, not both");
  const insert = async (tx: Queryable) => {
    const [row] = await translating(() => tx<Note[]>`
      INSERT INTO notes (message, is_issue, recording_id, clip_id, created_by, run_id)
      VALUES (${n.message}, ${n.is_issue ?? false}, ${n.recording_id ?? null}, ${n.clip_id ?? null}, ${n.created_by}, ${n.run_id ?? null})
      RETURNING ${COLUMNS(tx)}`);
    return row;
  };
  if (n.recording_id) return writing(db, "recordings", n.recording_id, insert);
  if (n.clip_id) return writing(db, "clips", n.clip_id, insert);
  return insert(db);
}

export async function getNote(db: Queryable, id: string): Promise<Note> {
  const [row] = await translating(() => db<Note[]>`SELECT ${COLUMNS(db)} FROM notes WHERE id = ${id}`);
  if (!row) throw new NotFoundError("note", id);
  return row;
}

export async function listNotes(db: Queryable, q: PageRequest & { state: StateFilter; recording_id?: string; clip_id?: string; is_issue?: boolean }): Promise<Page<Note>> {
  const where = db`${stateCondition(db, q.state, effectiveState(db, "notes", "n"))}
    AND (${q.recording_id ?? null}::uuid IS NULL OR recording_id = ${q.recording_id ?? null})
    AND (${q.clip_id ?? null}::uuid IS NULL OR clip_id = ${q.clip_id ?? null})
    AND (${q.is_issue ?? null}::boolean IS NULL OR is_issue = ${q.is_issue ?? null})`;
  const rows = await translating(() => db<(Note & { total_count: number })[]>`
    SELECT ${COLUMNS(db)}, count(*) OVER () AS total_count FROM notes n WHERE ${where}
    ORDER BY created_at DESC, id LIMIT ${q.limit} OFFSET ${q.offset}`);
  return toPage(rows, q, () => db`SELECT count(*) AS n FROM notes n WHERE ${where}`);
}

export async function updateNote(db: Queryable, id: string, patch: { message?: string; is_issue?: boolean }): Promise<Note> {
  return writing(db, "notes", id, async (tx) => {
    const fields = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
    if (Object.keys(fields).length) await translating(() => tx`UPDATE notes SET ${tx(fields, ...Object.keys(fields))} WHERE id = ${id}`);
    return getNote(tx, id);
  });
}
