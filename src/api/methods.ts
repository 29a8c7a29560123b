/**
 * HTTP method semantics (RFC 9110 §9.2.1), shared by the plugins: auth opens the safe methods to
 * anyone on loopback, and errors and deadline send Retry-After only to a request safe to repeat.
 * Its own module so that those plugins do not import one another for it (auth ↔ errors was a cycle).
 */

/** Methods that only read: open to anyone on loopback (plugins/auth.ts), safe to repeat. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);
