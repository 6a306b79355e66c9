// Reads a streamed answer (POST /api/chat, or a resume's replay) into an AssistantTurn, and
// returns how it ended. Only one terminal frame counts; a stream that ends without one was cut.
import { errorOf } from "./api.js";
import { stats } from "./live-markdown.js";
import { createSSEParser } from "./sse.js";

/** Reads `res` into `turn`; `onStart(turn)` runs once the start frame is in. */
export async function readAnswer(res, turn, { onStart, follow } = {}) {
  if (!res.ok) return { state: "error", ...(await errorOf(res)), status: res.status };
  const type = res.headers.get("Content-Type") || "";
  if (!res.body || !type.includes("text/event-stream")) {
    return { state: "error", code: "bad_response", message: `unexpected response type "${type}"` };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder(); // {stream: true} keeps split UTF-8 sequences intact
  let outcome = null;
  const parser = createSSEParser((ev) => {
    if (outcome) return;
    outcome = turn.onFrame(ev);
    if (ev.type === "start" && onStart) onStart(turn);
  });
  while (!outcome) {
    const { value, done } = await reader.read();
    const t0 = performance.now();
    parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
    stats.readMs += performance.now() - t0;
    stats.readMaxMs = Math.max(stats.readMaxMs, performance.now() - t0);
    if (follow) follow();
    if (done) break;
  }
  if (outcome) reader.cancel().catch(() => {}); // terminal frame seen: nothing more to read
  return outcome || { state: "error", code: "connection_lost", message: "connection lost", retryable: true };
}
