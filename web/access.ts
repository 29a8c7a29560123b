/**
 * Who may change what, as the API rules it (src/api/plugins/auth.ts): the viewer offers a change
 * only to whom the API lets make it — another member was shown Move and Delete on every clip, and
 * clicked them into a 403.
 */

/** The user of a token, as GET /v1/users/me gives them. */
export interface User { id: string; username: string; role: string }

/**
 * Whether `user` may write at all — create or import clips, tag a clip, write a note on it, restore
 * some trashed note: a member or an admin (a viewer's token only reads, and without a token
 * nothing is written).
 */
export const mayWrite = (user: User | null) => user?.role === "admin" || user?.role === "member";

/**
 * Whether `user` may change what `createdBy` made — move or delete a clip; edit, archive, trash or
 * restore a note: its creator if a member, or an admin (the API's requireCreatorOrAdmin).
 */
export const mayChangeWorkOf = (user: User | null, createdBy: string | null) => user !== null && (user.role === "admin" || (user.role === "member" && createdBy === user.id));

/** Why `user`'s token changes nothing: a viewer's only reads (the words of a refusal's hint too). */
export const viewerOnly = (user: User) => `${user.username}'s token is a viewer's, which can only read: enter a member's API token at the top`;
