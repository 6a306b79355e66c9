// The server's HTTP API as the page uses it: the key (when the server wants one), JSON calls,
// and the chat stream requests. Every call sends the key the tab holds, if any.

// Kept in sessionStorage: for this tab only, gone when it closes; sent as a Bearer token.
const KEY_ITEM = "aichatflow.key";

export function storedKey() {
  try { return sessionStorage.getItem(KEY_ITEM) || ""; } catch { return ""; }
}

export function storeKey(key) {
  try { if (key) sessionStorage.setItem(KEY_ITEM, key); else sessionStorage.removeItem(KEY_ITEM); } catch { /* storage off */ }
}

export function withKey(headers) {
  const key = storedKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

/** The server answered 401: the page must ask for a key (message: the server's reason). */
export class NeedsKey extends Error {}

/** The server's JSON error body ({"error": {code, message}}) as {code, message}, else the status. */
export async function errorOf(res) {
  let code = `http_${res.status}`, message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && body.error) { code = body.error.code || code; message = body.error.message || message; }
  } catch { /* not JSON: keep the status line */ }
  return { code, message };
}

/** A JSON call; throws NeedsKey on 401 and an Error carrying `code` on any other failure. */
export async function call(method, url, body) {
  const headers = withKey({ Accept: "application/json" });
  const init = { method, headers };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(url, init);
  if (res.status === 401) throw new NeedsKey((await errorOf(res)).message);
  if (!res.ok) {
    const err = await errorOf(res);
    throw Object.assign(new Error(err.message), { code: err.code, status: res.status });
  }
  return res.status === 204 ? null : res.json();
}

/** Tries a key against /api/config: null when accepted, else the server's reason. */
export async function checkKey(key) {
  let res;
  try {
    // A Bearer value must be a header-safe string; fetch() throws on anything else.
    res = await fetch("/api/config", { headers: { Accept: "application/json", Authorization: `Bearer ${key}` } });
  } catch (err) {
    return `this key cannot be sent: ${(err && err.message) || err}`;
  }
  if (res.status === 401 || res.status === 403) return (await errorOf(res)).message;
  return null;
}

/** POST /api/chat: the streamed answer to `body`. */
export function postChat(body, signal) {
  return fetch("/api/chat", {
    method: "POST",
    headers: withKey({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
}

/** GET /api/chat/{id}/stream: a journaled answer replayed from its first event. */
export function resumeChat(streamId, signal) {
  return fetch(`/api/chat/${encodeURIComponent(streamId)}/stream`, {
    headers: withKey({ Accept: "text/event-stream" }),
    signal,
  });
}

/** POST /api/chat/{id}/stop: ends a journaled answer for every reader, keeping its text. */
export function stopChat(streamId) {
  return fetch(`/api/chat/${encodeURIComponent(streamId)}/stop`, { method: "POST", headers: withKey({}) })
    .catch(() => null);
}
