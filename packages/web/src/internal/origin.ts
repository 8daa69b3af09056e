/**
 * The CSRF check of a state-changing request (`POST /logout`): the browser
 * says where the request comes from, and it must be this application. The
 * `Origin` header when present (every current browser sends it on a POST);
 * else `Sec-Fetch-Site: same-origin`; else the request is refused. An
 * `Origin: null` (Chromium's, from a page with `Referrer-Policy:
 * no-referrer`) counts as none: accepted only with `Sec-Fetch-Site:
 * same-origin`. A page on
 * another site can make a browser send a POST with its cookies (a form), but
 * it cannot make the browser lie about its origin.
 *
 * @internal
 */

/** Whether the headers say the request comes from `origin` (`scheme://host[:port]`). @internal */
export const isSameOrigin = (headers: Readonly<Record<string, string | undefined>>, origin: string): boolean => {
  const sent = headers["origin"]
  if (sent !== undefined && sent !== "null") return sent === origin
  return headers["sec-fetch-site"] === "same-origin"
}
