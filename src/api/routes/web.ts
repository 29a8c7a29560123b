/**
 * The viewer page (issue 8) at `/`: the files `npm run build:web` bundles into dist/web/,
 * public like /docs. Only the files found there at start-up are served (a fixed list, so no
 * request path ever reaches the file system); without a build, `/` says how to make one.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync } from "fastify";
import { sendError } from "../plugins/errors.js";

/** dist/web of the package: three levels up from both src/api/routes and dist/api/routes. */
const WEB_DIR = fileURLToPath(new URL("../../../dist/web/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
};

export const webRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, options) => {
  const dir = options.dir ?? WEB_DIR;
  const names = await readdir(dir).catch(() => [] as string[]);
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: await readFile(join(dir, name)), type });
  }
  const config = { public: true };
  // Never inside another site's frame, whichever URL the page is reached by (`/` or
  // /web/index.html): the page acts with the token it keeps (trashes, imports), and a page of any
  // site could frame it on 127.0.0.1 and steer the user's clicks to them. The hook is scoped to
  // this plugin, so only the viewer's own HTML answers carry the headers.
  app.addHook("onSend", async (_request, reply, payload) => {
    if (String(reply.getHeader("content-type") ?? "").startsWith("text/html")) {
      reply.header("Content-Security-Policy", "frame-ancestors 'none'").header("X-Frame-Options", "DENY");
    }
    return payload;
  });

  app.get("/", { schema: { hide: true }, config }, async (_request, reply) => {
    const page = files.get("index.html");
    if (!page) return reply.code(503).type("text/plain").send("the viewer page is not built: run `npm run build:web`");
    // The page itself may change with an upgrade; its assets are revalidated the same way.
    return reply.type(page.type).header("Cache-Control", "no-cache").send(page.body);
  });
  app.get("/web/:file", { schema: { hide: true }, config }, async (request, reply) => {
    const file = files.get((request.params as { file: string }).file);
    if (!file) return sendError(reply, 404, "no such file of the viewer page");
    return reply.type(file.type).header("Cache-Control", "no-cache").send(file.body);
  });
};
