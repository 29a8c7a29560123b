/**
 * POST /<resource>/{id}/archive | trash | restore for the tables whose records can be hidden
 * (SPEC §5): archive hides and freezes, trash hides until purged, restore brings back.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { z } from "zod";
import { setState, type State, type StatefulTable } from "../store/common.js";
import { errorBody, idParams } from "./schemas.js";

const ACTIONS: Record<string, State> = { archive: "archived", trash: "trashed", restore: "active" };

/** Registers the three state routes under `/${path}/:id/…`, answering with `get(id)`. */
export function stateRoutes(path: string, table: StatefulTable, item: z.ZodType, get: (id: string) => Promise<unknown>): FastifyPluginAsyncZod {
  return async (app) => {
    for (const [action, state] of Object.entries(ACTIONS)) {
      app.post(`/${path}/:id/${action}`, {
        schema: {
          summary: `${action[0].toUpperCase()}${action.slice(1)} a ${table.replace(/s$/, "")}`,
          tags: [path], params: idParams,
          response: { 200: item, 404: errorBody, 409: errorBody },
        },
      }, async (request) => {
        await setState(app.db.sql, table, request.params.id, state);
        // `item` validates what `get` returns; the generic route types cannot see that.
        return (await get(request.params.id)) as never;
      });
    }
  };
}
