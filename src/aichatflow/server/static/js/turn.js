// One assistant answer on screen: reasoning folded apart (with how long it took), the answer
// as live markdown, tool calls with their arguments, a quiet line of timing and token counts,
// and an error with a Retry button. Fed one SSE frame at a time by stream.js.
import { button, duration, el } from "./dom.js";
import { LiveMarkdown } from "./live-markdown.js";

/** Each answer's article -> its AssistantTurn (the raw text, for tests and benchmarks). */
export const turnOf = new WeakMap();

export class AssistantTurn {
  /** `onRetry` (optional): what the error block's Retry button does. */
  constructor(container, { onRetry, onTextFrame, timed = true } = {}) {
    this.onRetry = onRetry;
    this.onTextFrame = onTextFrame;
    this.timed = timed; // false for a replay or a stored answer: its timings are not ours
    this.root = el("article", "msg assistant");
    this.root.setAttribute("aria-label", "Assistant");
    this.root.dataset.state = "streaming";
    this.bubble = el("div", "bubble");
    this.details = el("details", "reasoning");
    this.details.hidden = true; // shown only if reasoning arrives
    this.summary = el("summary", null, "Reasoning");
    this.reasoningText = el("div", "reasoning-text");
    this.details.append(this.summary, this.reasoningText);
    this.answer = el("div", "answer");
    this.markdown = new LiveMarkdown(this.answer);
    this.tools = el("div", "tool-calls");
    this.tools.hidden = true;
    this.actions = el("div", "msg-actions");
    this.bubble.append(this.details, this.answer, this.tools);
    this.root.append(this.bubble, this.actions);
    container.append(this.root);
    turnOf.set(this.root, this);
    this.reasoning = "";
    this.toolMap = new Map();
    this.usage = null;
    this.started = performance.now();
    this.firstToken = null; // ms from the request to the first token
    this.reasoningFrom = null;
    this.reasoningMs = null;
  }

  get streamId() { return this.root.dataset.streamId || ""; }

  /** The answer's raw text so far (kept once, by its live markdown). */
  get text() { return this.markdown.text; }

  #token() {
    if (this.firstToken == null) this.firstToken = performance.now() - this.started;
  }

  // The reasoning ends when anything else starts (or the answer ends).
  #endReasoning() {
    if (this.reasoningFrom == null || this.reasoningMs != null) return;
    this.reasoningMs = performance.now() - this.reasoningFrom;
    this.summary.textContent = this.timed ? `Reasoned for ${duration(this.reasoningMs)}` : "Reasoning";
    this.details.open = false; // folded once the answer starts; the reader may reopen it
  }

  addReasoning(text) {
    this.#token();
    if (this.reasoningFrom == null) {
      this.reasoningFrom = performance.now();
      this.details.hidden = false;
      this.details.open = true;
      this.summary.textContent = "Reasoning…";
    }
    this.reasoning += text;
    this.reasoningText.append(text);
  }

  addText(text) {
    if (this.onTextFrame) this.onTextFrame();
    this.#token();
    this.#endReasoning();
    this.markdown.append(text);
  }

  // Tool-call frames are deltas: the name comes first, arguments arrive in pieces.
  addToolCall(d) {
    this.#token();
    this.#endReasoning();
    const key = Number.isInteger(d.index) ? d.index : (d.id || this.toolMap.size);
    let call = this.toolMap.get(key);
    if (!call) {
      const node = el("div", "tool-call");
      call = { name: "", args: "", node, title: el("span", "tool-name"), body: el("pre", "tool-args") };
      node.append(el("span", "tool-label", "Tool call "), call.title, call.body);
      this.toolMap.set(key, call);
      this.tools.append(node);
      this.tools.hidden = false;
    }
    if (d.name) call.name = d.name;
    if (typeof d.arguments === "string") call.args += d.arguments;
    call.title.textContent = call.name || "tool";
    call.body.textContent = call.args;
  }

  /** Handles one SSE frame; returns the outcome of a terminal (done/error) frame, else null. */
  onFrame(ev) {
    let d;
    try { d = JSON.parse(ev.data); } catch { return null; } // a malformed frame is skipped
    if (!d || typeof d !== "object") return null;
    const text = typeof d.text === "string" ? d.text : "";
    switch (ev.type) {
      case "start":
        this.root.dataset.streamId = d.stream_id || "";
        this.model = d.model || "";
        this.deployment = d.deployment || "";
        this.conversationId = d.conversation_id || null;
        this.messageId = d.message_id || null;
        break;
      case "model": this.deployment = d.deployment || this.deployment; break; // a fallback answered
      case "reasoning": this.addReasoning(text); break;
      case "text": this.addText(text); break;
      case "tool_call": this.addToolCall(d); break;
      case "usage": this.usage = d; break;
      case "done": return { state: "done", finish: d.finish_reason, usage: d.usage || this.usage };
      case "error": return { state: "error", code: d.code, message: d.message,
        retryable: d.retryable, requestId: d.request_id };
    }
    return null;
  }

  /** The answer ended (done, stopped or error): final render and the meta line. */
  finish(o) {
    this.#endReasoning();
    this.markdown.finish();
    for (const call of this.toolMap.values()) {
      try { call.body.textContent = JSON.stringify(JSON.parse(call.args), null, 2); } catch { /* partial JSON: as it came */ }
    }
    this.root.dataset.state = o.state;
    this.details.open = false;
    if (o.state === "error") this.bubble.append(this.#errorBlock(o));
    const meta = el("div", "meta");
    const part = (cls, text) => { if (meta.childNodes.length) meta.append(" · "); meta.append(el("span", cls, text)); };
    if (o.state === "stopped") part("stopped", "(stopped)");
    if (o.state === "error" && o.requestId) part("request", `request ${o.requestId}`);
    if (o.state === "done" && o.finish !== null) part("finish", `finish: ${o.finish || "unknown"}`);
    const u = o.usage;
    if (u && (u.input_tokens != null || u.output_tokens != null)) {
      let line = `in ${u.input_tokens ?? "?"} · out ${u.output_tokens ?? "?"} tokens`;
      if (u.reasoning_tokens) line += ` · reasoning ${u.reasoning_tokens}`;
      part("usage", line);
    }
    if (this.timed && this.firstToken != null) part("ttft", `first token ${duration(this.firstToken)}`);
    // Name the deployment when it is not what was picked (an alias, or a fallback).
    if (this.deployment && this.deployment !== this.model) part("via", `via ${this.deployment}`);
    if (meta.childNodes.length) this.bubble.append(meta);
  }

  #errorBlock(o) {
    const box = el("div", "error");
    box.setAttribute("role", "alert");
    box.append(el("strong", "error-code", o.code || "error"), `: ${o.message || "unknown error"}`);
    if (o.retryable) box.append(el("span", "error-hint", " (retryable)"));
    if (this.onRetry) box.append(button("Retry", "retry secondary", () => this.onRetry()));
    return box;
  }
}

/** A user's question; its action buttons (Edit) are set by the page for the last one only. */
export function userMessage(container, text) {
  const root = el("article", "msg user");
  root.setAttribute("aria-label", "You");
  const bubble = el("div", "bubble");
  bubble.append(el("div", "text", text));
  root.append(bubble, el("div", "msg-actions"));
  container.append(root);
  return root;
}

/** A failure that is not the answer's (models, conversations): an alert in the conversation. */
export function notice(container, code, message) {
  const box = el("div", "error");
  box.setAttribute("role", "alert");
  box.append(el("strong", "error-code", code), `: ${message}`);
  container.append(box);
  return box;
}
