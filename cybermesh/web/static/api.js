// The API client of the page: same origin, `Authorization: Bearer <token>` on every call.
//
// The token comes from the URL fragment `#token=...` (read once, kept in sessionStorage, and
// removed from the address bar so it is not bookmarked, shared or kept in history) or from
// the login box. Without a token no Authorization header is sent (mTLS deployments: the
// browser presents its client certificate itself).

const TOKEN_KEY = "cybermesh.token";
export const API = "/api/v1";

export class ApiError extends Error {
  /** status: HTTP status (0 = network failure); code: the API's error code; retryAfterS: 429;
   * body: the parsed JSON answer, if any (an absent state key is a 404 carrying its proof). */
  constructor(status, code, message, retryAfterS = null, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
    this.body = body;
  }
}

/** Move a `#token=...` fragment into sessionStorage and out of the address bar. */
export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token === null) return false;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  if (token.trim()) setToken(token.trim());
  return true;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function message(status, body, fallback) {
  const err = body && typeof body === "object" ? body.error : null;
  if (err && typeof err.message === "string") return [err.code || String(status), err.message];
  return [String(status), fallback];
}

/** GET `${API}${path}` with `params` -> parsed JSON; throws ApiError on anything but 2xx. */
export async function get(path, params = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(url, { headers, cache: "no-store", credentials: "same-origin", redirect: "error" });
  } catch (e) {
    throw new ApiError(0, "network", `the validator did not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (resp.ok) return body;
  const retry = Number.parseInt(resp.headers.get("Retry-After") || "", 10);
  const texts = {
    401: "not signed in, or the token is invalid or expired",
    403: "this token's role may not read this",
    429: "rate limited by the validator",
    503: "this part of the validator is not ready yet",
  };
  const [code, msg] = message(resp.status, body, texts[resp.status] || `HTTP ${resp.status}`);
  throw new ApiError(resp.status, code, msg, Number.isFinite(retry) ? retry : null, body);
}
