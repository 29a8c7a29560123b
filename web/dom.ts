/** DOM helpers of the viewer. */

/** The page's element with this id. */
export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * A new element holding `children` — text or nodes. Server data (paths, names, messages) only
 * ever enters the page this way, as text: never through innerHTML, where a stored
 * `<img onerror=…>` would run with the page's token.
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.append(...children);
  return e;
}
