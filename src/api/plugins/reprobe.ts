/**
 * After an upgrade whose readers count some files otherwise, the recordings an older engine read
 * are read again (store/reprobe.ts): once the server is ready, in the background — start-up and
 * readiness wait for no file — a few files at a time, while requests are served. Each recording is
 * also read again at its file's first use (recordingFileNow), so the sweep is for those nobody
 * opens: their duration in listings and the viewer's time axis. A recording whose file cannot be
 * used now is logged and left for the next start. Servers sharing the database sweep it each;
 * an update holds only while the row is as read, so what one stored the others leave.
 *
 * Closing the server stops the sweep (no file is taken up after preClose) and waits for the files
 * in hand — at most STOP_WAIT_MS, for a database that stops answering mid-query — so that no query
 * is sent after the caller closes the database.
 */
import { setTimeout as sleep } from "node:timers/promises";
import fp from "fastify-plugin";
import { differ, sweepStaleRecordings, type ReprobeOutcome } from "../../store/reprobe.js";

/** Longest the close waits for the sweep's reads and updates in hand (milliseconds). */
const STOP_WAIT_MS = 5_000;

export const reprobePlugin = fp(async (app) => {
  const stop = new AbortController();
  let sweep: Promise<void> | null = null;
  const report = (outcome: ReprobeOutcome) => {
    const recording = { id: outcome.id, path: outcome.path };
    if (outcome.kind === "left") app.log.warn({ recording, reason: outcome.reason }, "recording's file not read again (an older sonotile read its facts): left for the next start");
    else if (outcome.result.stored && differ(outcome.result)) {
      const { before, facts, clipsPastEnd, clipsAboveNyquist } = outcome.result;
      // Clips past the new end hold no audio there, and those above the new Nyquist frequency no
      // PATCH passes until their bounds change: someone has to look at them.
      if (clipsPastEnd || clipsAboveNyquist) app.log.warn({ recording, before, facts, clipsPastEnd, clipsAboveNyquist }, "recording's facts corrected; some of its clips now end after it or reach above its Nyquist frequency");
      else app.log.info({ recording, before, facts }, "recording's facts corrected");
    }
  };
  app.addHook("onReady", async () => {
    // Not awaited: readiness does not wait for the files.
    sweep = sweepStaleRecordings(app.db.sql, { audioRoots: app.audioRoots, signal: stop.signal, onRecording: report }).then(
      (summary) => {
        if (summary.stored || summary.left) app.log.info(summary, "recordings read again by this engine's readers");
      },
      (err: Error) => {
        // Once closing, a failure is the database going away under the sweep's last query.
        if (!stop.signal.aborted) app.log.warn({ err }, "reading recordings again stopped (tried again at the next start)");
      },
    );
  });
  app.addHook("preClose", async () => {
    stop.abort();
    if (sweep) await Promise.race([sweep, sleep(STOP_WAIT_MS, undefined, { ref: false })]);
  });
});
