/**
 * POST /<resource>/{id}/archive | trash | restore for the tables whose records can be hidden
 * (SPEC §5): archive hides and freezes, trash hides until purged, restore brings back.
 */
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { z } from "zod";
import { setState, type State, type StatefulTable } from "../store/common.js";
import { errorBody, idParams } from "./schemas.js";

const ACTIONS: Record<string, State> = { archive: "archived", trash: "trashed", restore: "active" };

/**
 * Registers the three state routes under `/${path}/:id/…`, answering with `get(id)`. Any member
 * may change a record's state (trash is how a member proposes a deletion: only admins purge),
 * unless `authorize` — called with the request and the action's name — throws first.
 */
export function stateRoutes(path: string, table: StatefulTable, item: z.ZodType, get: (id: string) => Promise<unknown>, authorize?: (request: FastifyRequest<{ Params: { id: string } }>, action: string) => Promise<void>): FastifyPluginAsyncZod {
  return async (app) => {
    for (const [action, state] of Object.entries(ACTIONS)) {
      app.post(`/${path}/:id/${action}`, {
        schema: {
          summary: `${action[0].toUpperCase()}${action.slice(1)} ${/^[aeiou]/.test(table) ? "an" : "a"} ${table.replace(/s$/, "")}`,
          tags: [path], params: idParams,
          response: { 200: item, ...(authorize && { 403: errorBody }), 404: errorBody, 409: errorBody },
        },
      }, async (request) => {
        await authorize?.(request, action);
        await setState(app.db.sql, table, request.params.id, state);
        // `item` validates what `get` returns; the generic route types cannot see that.
        return (await get(request.params.id)) as never;
      });
    }
  };
}
