/**
 * POST /<resource>/{id}/archive | trash | restore for the tables whose records can be hidden
 * (SPEC §5): archive hides and freezes, trash hides until purged, restore brings back.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { z } from "zod";
import { setState, type State, type StatefulTable } from "../store/common.js";
import { requireCreatorOrAdmin } from "./plugins/auth.js";
import { errorBody, idParams } from "./schemas.js";

const ACTIONS: Record<string, State> = { archive: "archived", trash: "trashed", restore: "active" };

/**
 * Who may change a record's state: any member (trash is how a member proposes a deletion: only
 * admins purge), or — for what is someone's own work — only its creator or an admin, since
 * another member's archive made it read-only to its creator, their trash put it up for purging
 * and their restore undid its creator's archive.
 */
export type StateChangers = "any member" | "creator or admin";

/** Registers the three state routes under `/${path}/:id/…`, answering with `get(id)`. */
export function stateRoutes(path: string, table: StatefulTable, item: z.ZodType, get: (id: string) => Promise<{ id: string; created_by: string | null }>, changers: StateChangers): FastifyPluginAsyncZod {
  const kind = table.replace(/s$/, "");
  const creatorOnly = changers === "creator or admin";
  return async (app) => {
    for (const [action, state] of Object.entries(ACTIONS)) {
      app.post(`/${path}/:id/${action}`, {
        schema: {
          summary: `${action[0].toUpperCase()}${action.slice(1)} ${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}${creatorOnly ? " (its creator or an admin)" : ""}`,
          tags: [path], params: idParams,
          response: { 200: item, ...(creatorOnly && { 403: errorBody }), 404: errorBody, 409: errorBody },
        },
      }, async (request) => {
        if (creatorOnly) requireCreatorOrAdmin(request, kind, await get(request.params.id), action);
        await setState(app.db.sql, table, request.params.id, state);
        // `item` validates what `get` returns; the generic route types cannot see that.
        return (await get(request.params.id)) as never;
      });
    }
  };
}
