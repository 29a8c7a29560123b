/**
 * How much audio one playback response (GET /v1/recordings/{id}/playback) may hold. A module
 * of its own, without Node imports, so that the viewer bundles it and asks for no more.
 */

/** Samples (frames × channels) of one playback response: 64 MiB of float32. */
export const MAX_PLAYBACK_SAMPLES = 2 ** 24;
