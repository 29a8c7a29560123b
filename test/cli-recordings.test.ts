/**
 * `sonotile recordings tag|untag KEY=VALUE <selection>` as processes (the built CLI in dist/), on a
 * data directory: exit 0 with the counts, 2 for bad usage (before any database is opened) or a
 * selection holding a read-only recording.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSonotile } from "./cli-helpers.js";
import { tempDir, writeSineWav } from "./store-helpers.js";

const env = { DATABASE_URL: "" };
const SOME_ID = "00000000-0000-4000-8000-000000000000";

describe("sonotile recordings: usage", () => {
  it("exits 2 naming the problem, before any database is opened", async () => {
    const cases: [string[], RegExp][] = [
      [["recordings", "frob"], /expected 'list', 'tag KEY=VALUE' or 'untag KEY=VALUE'/],
      [["recordings", "tag", "site", "--all"], /the tag must be KEY=VALUE, both non-empty, got 'site'/],
      [["recordings", "tag", " =pond", "--all"], /the tag must be KEY=VALUE, both non-empty/],
      [["recordings", "tag", "site=pond"], /give the recordings: --dataset, --search, --hash, --date-from, --date-to, --tag or --ids — or --all/],
      // An empty --search holds every path: it tagged every recording without --all (the store's rule, as the API's).
      [["recordings", "tag", "site=pond", "--search", ""], /give the recordings: --dataset, --search, --hash, --date-from, --date-to, --tag or --ids — or --all/],
      [["recordings", "tag", "site=pond", "--hash", "abc"], /--hash: must be an MD5 in hex \(32 digits\), got 'abc'/],
      [["recordings", "tag", "site=pond", "--date-from", "2025-02-29"], /--date-from: must be a date YYYY-MM-DD from 0001-01-01, got '2025-02-29'/],
      [["recordings", "tag", "site=pond", "--date-to", "0000-01-01"], /--date-to: must be a date YYYY-MM-DD/],
      [["recordings", "tag", "site=pond", "--date-from", "2025-07-02", "--date-to", "2025-07-01"], /--date-to: must be on or after --date-from \(2025-07-02\)/],
      [["recordings", "tag", "site=pond", "--state", "archived"], /give the recordings: /],
      [["recordings", "untag", "site=pond", "--ids", `${SOME_ID},nope`], /--ids: must be an RFC 9562 UUID: .*, got 'nope'/],
      [["recordings", "tag", "site=pond", "--ids", SOME_ID, "--dataset", SOME_ID], /give --ids or filters, not both \(got --dataset\)/],
      [["recordings", "tag", "site=pond", "--all", "--state", "gone"], /--state: must be one of active, archived, trashed, all$/m],
    ];
    const results = await Promise.all(cases.map(([args]) => runSonotile(args, { env })));
    results.forEach((r, i) => expect(r, cases[i][0].join(" ")).toMatchObject({ code: 2, stderr: expect.stringMatching(cases[i][1]) }));
  }, 30_000);
});

describe("sonotile recordings on a data directory", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const ids: Record<string, string> = {};
  const onData = (args: string[]) => runSonotile([...args, "--data", join(dir.path, "data")], { env });

  beforeAll(async () => {
    dir = await tempDir();
    for (const file of ["site1/a.wav", "site1/b.wav", "site2/c.wav"]) {
      await mkdir(join(dir.path, "audio", file, ".."), { recursive: true });
      await writeSineWav(join(dir.path, "audio", file), 8000, 0.2);
    }
    const added = await onData(["dataset", "add", join(dir.path, "audio"), "--audio-root", dir.path, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    for (const r of JSON.parse(added.stdout).registered) ids[r.path] = r.recording_id;
  }, 60_000);
  afterAll(() => dir?.remove());

  it("tags a folder's recordings, again to none anew, and untags them", async () => {
    const first = await onData(["recordings", "tag", " site = pond ", "--search", "site1/"]);
    expect(first).toMatchObject({ code: 0, stdout: "2 recordings matched: site=pond added to 2, 0 had it already\n", stderr: "" });
    const again = await onData(["recordings", "tag", "site=pond", "--search", "site1/", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ matched: 2, added: 0, already_tagged: 2 });
    const byTag = await onData(["recordings", "untag", "site=pond", "--tag", "site", "--json"]);
    expect(JSON.parse(byTag.stdout)).toEqual({ matched: 2, removed: 2, not_tagged: 0 });
    const byIds = await onData(["recordings", "tag", "checked=yes", "--ids", `${ids["site2/c.wav"]},${ids["site1/a.wav"]}`, "--json"]);
    expect(JSON.parse(byIds.stdout)).toEqual({ matched: 2, added: 2, already_tagged: 0 });
    // By date: these files carry none, so a date range holds none of them.
    const dated = await onData(["recordings", "tag", "night=1", "--date-from", "2000-01-01", "--date-to", "2000-01-02", "--json"]);
    expect(JSON.parse(dated.stdout)).toEqual({ matched: 0, added: 0, already_tagged: 0 });
    const missing = await onData(["recordings", "tag", "checked=yes", "--ids", SOME_ID]);
    expect(missing).toMatchObject({ code: 2, stderr: `sonotile recordings: recording ${SOME_ID} not found\n` });
  }, 60_000);
});
