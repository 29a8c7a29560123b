/**
 * The largest selection table one import (POST /v1/clips/import) takes. A module of its own,
 * without Node imports, so that the viewer bundles it and refuses a bigger file before sending it.
 */

/** The largest table body, in bytes (413 above): MAX_TABLE_ROWS Raven rows of ~800 characters. */
export const IMPORT_BODY_LIMIT = 8 * 1024 * 1024;
