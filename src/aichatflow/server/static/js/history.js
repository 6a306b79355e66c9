// A stored conversation (GET /api/conversations/{id}) drawn as the thread: questions, and
// answers as they ended (complete, stopped, error), each rendered once in full.
import { AssistantTurn, userMessage } from "./turn.js";

const text = (content) => {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p.text === "string" ? p.text : "")).join("");
  return "";
};

/** Draws `messages`; returns the last message when it is an answer still being written. */
export function renderConversation(thread, messages, { onRetry }) {
  const last = messages[messages.length - 1];
  const live = last && last.role === "assistant" && last.status === "in_progress" && last.stream_id ? last : null;
  for (const m of messages) {
    if (m === live) break;
    if (m.role === "user") {
      userMessage(thread, text(m.content)).dataset.id = m.id;
    } else if (m.role === "assistant") {
      const turn = new AssistantTurn(thread, { onRetry, timed: false });
      if (m.reasoning) turn.addReasoning(m.reasoning);
      for (const [index, call] of (m.tool_calls || []).entries()) {
        const fn = (call && call.function) || {};
        turn.addToolCall({ index, name: fn.name, arguments: fn.arguments });
      }
      turn.addText(text(m.content));
      turn.model = turn.deployment = m.model || "";
      turn.finish(outcomeOf(m));
    }
  }
  return live;
}

function outcomeOf(m) {
  if (m.status === "stopped") return { state: "stopped", usage: m.usage };
  if (m.status === "error") {
    const e = m.error || {};
    return { state: "error", code: e.code, message: e.message, retryable: true };
  }
  if (m.status === "in_progress") return { state: "stopped", usage: m.usage }; // its run is gone
  return { state: "done", finish: null, usage: m.usage }; // how it finished is not stored
}
