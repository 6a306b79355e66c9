// aichatflow chat page. EventSource cannot POST, so /api/chat is read with
// fetch() + a ReadableStream reader and parsed by the small SSE parser below.
(() => {
  "use strict";

  // --- SSE parser (WHATWG "event stream interpretation") ---
  // feed() takes decoded text in arbitrary chunks; onEvent({type, data, id})
  // fires once per dispatched event. `retry:` is ignored: we never auto-replay
  // a chat POST, and an unterminated event at EOF is dropped as the spec says.
  function createSSEParser(onEvent) {
    const EOL = /\r\n|\r|\n/g;
    let buf = "", data = "", type = "", lastId = "", seenData = false;
    let skipLF = false; // last chunk ended in "\r": a leading "\n" now belongs to it

    function dispatch() {
      if (seenData) onEvent({ type: type || "message", data: data.slice(0, -1), id: lastId });
      data = ""; type = ""; seenData = false;
    }

    function processLine(line) {
      if (line === "") return dispatch();
      if (line[0] === ":") return; // comment, e.g. ": hb" heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "data") { data += value + "\n"; seenData = true; }
      else if (field === "event") type = value;
      else if (field === "id") { if (!value.includes("\0")) lastId = value; }
    }

    return {
      feed(chunk) {
        if (!chunk) return;
        buf += chunk;
        let pos = 0;
        if (skipLF && buf[0] === "\n") pos = 1;
        skipLF = false;
        for (EOL.lastIndex = pos; ; ) {
          const m = EOL.exec(buf);
          if (!m) break;
          // A lone "\r" at the very end may be the first half of "\r\n".
          if (m[0] === "\r" && EOL.lastIndex === buf.length) skipLF = true;
          processLine(buf.slice(pos, m.index));
          pos = EOL.lastIndex;
        }
        buf = buf.slice(pos);
      },
    };
  }
  // --- end SSE parser ---

  const $ = (id) => document.getElementById(id);
  const ui = {
    model: $("model"), messages: $("messages"), form: $("composer"), prompt: $("prompt"),
    send: $("send"), stop: $("stop"), newChat: $("new"), status: $("status"),
    keyForm: $("key-form"), key: $("key"), keyError: $("key-error"),
  };
  const api = (window.aichatflow = { frames: 0 }); // the only global: read by tests
  const history = []; // [{role, content}]; the whole conversation is sent every turn
  let controller = null; // AbortController of the in-flight request (null when idle)
  let epoch = 0; // bumped by "New chat" so a late-finishing stream can't touch the new one

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text; // textContent only: model output is untrusted
    return node;
  }

  // --- API key (only when the server wants one: it answered 401) ---
  // Kept in sessionStorage: for this tab only, gone when it closes; sent as a Bearer token.
  const KEY_ITEM = "aichatflow.key";
  const storedKey = () => { try { return sessionStorage.getItem(KEY_ITEM) || ""; } catch { return ""; } };
  function storeKey(key) {
    try { if (key) sessionStorage.setItem(KEY_ITEM, key); else sessionStorage.removeItem(KEY_ITEM); } catch { /* storage off */ }
  }
  function withKey(headers) {
    const key = storedKey();
    return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
  }
  // The server's own message from a JSON error body ({"error": {"message"}}), else the status.
  async function errorMessage(res) {
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch { /* not JSON */ }
    return `HTTP ${res.status}`;
  }
  function askForKey(message) {
    storeKey(""); // a key the server refused is not kept
    ui.send.disabled = true;
    ui.keyForm.hidden = false;
    ui.keyError.hidden = !message;
    ui.keyError.textContent = message || ""; // textContent: the message is the server's text
    ui.key.value = "";
    ui.key.focus();
  }
  async function tryKey(key) {
    let res;
    try {
      // A Bearer value must be a header-safe string; fetch() throws on anything else.
      res = await fetch("/api/config", { headers: { Accept: "application/json", Authorization: `Bearer ${key}` } });
    } catch (err) {
      return askForKey(`this key cannot be sent: ${(err && err.message) || err}`);
    }
    if (res.status === 401 || res.status === 403) return askForKey(await errorMessage(res));
    storeKey(key);
    ui.keyForm.hidden = true;
    ui.keyError.hidden = true;
    await loadModels();
    if (ui.keyForm.hidden && !controller) ui.send.disabled = false;
    ui.prompt.focus();
  }
  class NeedsKey extends Error {}
  // --- end API key ---

  function setStatus(s) { ui.status.textContent = s; ui.status.dataset.status = s; }
  function setBusy(busy) { ui.send.disabled = busy; ui.stop.disabled = !busy; }

  // Follow the stream only while the user is at the bottom, so scrolling up to read isn't fought.
  const nearBottom = () => ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
  const scrollDown = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };

  function errorBlock(code, message, retryable) {
    const box = el("div", "error");
    box.setAttribute("role", "alert");
    box.append(el("strong", "error-code", code || "error"), `: ${message || "unknown error"}`);
    if (retryable) box.append(el("span", "error-hint", " (retryable, try again)"));
    return box;
  }

  function addUser(text) {
    const msg = el("article", "msg user"), bubble = el("div", "bubble");
    msg.setAttribute("aria-label", "You");
    bubble.append(el("div", "text", text));
    msg.append(bubble);
    ui.messages.append(msg);
  }

  // Builds an empty assistant bubble; the stream fills it in place.
  function addAssistant() {
    const root = el("article", "msg assistant"), bubble = el("div", "bubble");
    root.setAttribute("aria-label", "Assistant");
    root.dataset.state = "streaming";
    const details = el("details", "reasoning");
    details.hidden = true; // shown only if reasoning frames arrive
    const reasoningText = el("div", "reasoning-text");
    details.append(el("summary", null, "Reasoning"), reasoningText);
    const answer = el("div", "answer");
    const answerNode = document.createTextNode(""); // appendData() grows it token by token
    answer.append(answerNode);
    const tools = el("div", "tool-calls");
    tools.hidden = true;
    bubble.append(details, answer, tools);
    root.append(bubble);
    ui.messages.append(root);
    return { root, bubble, details, reasoningText, answer, answerNode, tools,
      text: "", toolMap: new Map(), usage: null, gotText: false, gotReasoning: false };
  }

  function onReasoning(turn, text) {
    if (!turn.gotReasoning) { turn.gotReasoning = true; turn.details.hidden = false; turn.details.open = true; }
    turn.reasoningText.append(text);
  }

  function onText(turn, text) {
    api.frames += 1;
    // Collapse the reasoning once the answer starts (only once: the user may reopen it).
    if (!turn.gotText) { turn.gotText = true; turn.details.open = false; }
    turn.text += text;
    turn.answerNode.appendData(text);
  }

  // Tool-call frames are deltas: the name comes first, arguments arrive in pieces.
  function onToolCall(turn, d) {
    const key = Number.isInteger(d.index) ? d.index : (d.id || turn.toolMap.size);
    let call = turn.toolMap.get(key);
    if (!call) {
      call = { name: "", args: "", node: el("pre", "tool-call") };
      turn.toolMap.set(key, call);
      turn.tools.append(call.node);
      turn.tools.hidden = false;
    }
    if (d.name) call.name = d.name;
    if (typeof d.arguments === "string") call.args += d.arguments;
    call.node.textContent = `${call.name || "tool"}(${call.args})`;
  }

  // Handles one SSE frame; returns an outcome for the terminal done/error frame.
  function onFrame(turn, ev) {
    let d;
    try { d = JSON.parse(ev.data); } catch { return null; } // skip a malformed frame, keep streaming
    if (!d || typeof d !== "object") return null;
    const text = typeof d.text === "string" ? d.text : "";
    switch (ev.type) {
      case "start":
        turn.root.dataset.streamId = d.stream_id || "";
        turn.model = d.model || "";
        turn.deployment = d.deployment || "";
        break;
      case "model": turn.deployment = d.deployment || turn.deployment; break; // a fallback answered
      case "reasoning": onReasoning(turn, text); break;
      case "text": onText(turn, text); break;
      case "tool_call": onToolCall(turn, d); break;
      case "usage": turn.usage = d; break;
      case "done": return { state: "done", finish: d.finish_reason, usage: d.usage || turn.usage };
      case "error": return { state: "error", code: d.code, message: d.message,
        retryable: d.retryable, requestId: d.request_id };
    }
    return null;
  }

  // Errors raised before the stream starts come back as JSON {"error": {code, message}}.
  async function httpError(res) {
    let code = `http_${res.status}`, message = res.statusText || "request failed";
    try {
      const body = await res.json();
      if (body && body.error) { code = body.error.code || code; message = body.error.message || message; }
    } catch { /* not JSON: keep the status line */ }
    return { state: "error", code, message };
  }

  async function stream(turn, signal) {
    const res = await fetch("/api/chat", {
      method: "POST",
      headers: withKey({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ model: ui.model.value, messages: history }),
      signal,
    });
    const type = res.headers.get("Content-Type") || "";
    if (res.status === 401) {
      const outcome = await httpError(res);
      askForKey(outcome.message);
      return outcome;
    }
    if (!res.ok) return httpError(res);
    if (!res.body || !type.includes("text/event-stream")) {
      return { state: "error", code: "bad_response", message: `unexpected response type "${type}"` };
    }

    const reader = res.body.getReader();
    const decoder = new TextDecoder(); // decode(..., {stream: true}) keeps split UTF-8 sequences intact
    let outcome = null;
    const parser = createSSEParser((ev) => { if (!outcome) outcome = onFrame(turn, ev); });
    while (!outcome) {
      const { value, done } = await reader.read();
      const stick = nearBottom();
      parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
      if (stick) scrollDown();
      if (done) break;
    }
    if (outcome) reader.cancel().catch(() => {}); // terminal frame seen: nothing more to read
    return outcome || { state: "error", code: "connection_lost", message: "connection lost" };
  }

  function finish(turn, o) {
    turn.root.dataset.state = o.state;
    turn.details.open = false;
    const meta = el("div", "meta");
    if (o.state === "stopped") meta.append(el("span", "stopped", "(stopped)"));
    if (o.state === "error") {
      turn.bubble.append(errorBlock(o.code, o.message, o.retryable));
      if (o.requestId) meta.append(`request ${o.requestId}`);
    }
    if (o.state === "done") {
      const parts = [`finish: ${o.finish || "unknown"}`];
      const u = o.usage;
      if (u) {
        parts.push(`in ${u.input_tokens ?? "?"} · out ${u.output_tokens ?? "?"} tokens`);
        if (u.reasoning_tokens) parts.push(`reasoning ${u.reasoning_tokens}`);
      }
      // Name the deployment when it is not what was picked (an alias, or a fallback).
      if (turn.deployment && turn.deployment !== turn.model) parts.push(`via ${turn.deployment}`);
      meta.append(parts.join(" · "));
    }
    if (meta.childNodes.length) turn.bubble.append(meta);
    // Keep whatever text was produced (even a stopped partial) as context for the next turn;
    // a turn with no text at all is dropped with its question so roles keep alternating.
    if (turn.text) history.push({ role: "assistant", content: turn.text });
    else if (history.length && history[history.length - 1].role === "user") history.pop();
    setStatus(o.state);
  }

  async function send() {
    const text = ui.prompt.value.trim();
    if (!text || controller || ui.send.disabled) return;
    ui.prompt.value = "";
    autosize();
    history.push({ role: "user", content: text });
    addUser(text);
    const turn = addAssistant();
    scrollDown();
    api.frames = 0;
    const mine = epoch;
    const ctl = (controller = new AbortController());
    setBusy(true);
    setStatus("streaming");
    let outcome;
    try {
      outcome = await stream(turn, ctl.signal);
    } catch (err) {
      outcome = ctl.signal.aborted
        ? { state: "stopped" }
        : { state: "error", code: "network_error", message: (err && err.message) || String(err) };
    }
    if (mine !== epoch) return; // "New chat" already reset everything
    controller = null;
    setBusy(false);
    if (!ui.keyForm.hidden) ui.send.disabled = true; // until a key is accepted
    const stick = nearBottom();
    finish(turn, outcome);
    if (stick) scrollDown();
    if (ui.keyForm.hidden) ui.prompt.focus();
  }

  function newChat() {
    epoch += 1;
    if (controller) controller.abort();
    controller = null;
    history.length = 0;
    api.frames = 0;
    ui.messages.replaceChildren();
    setBusy(false);
    setStatus("idle");
    ui.prompt.focus();
  }

  function autosize() {
    ui.prompt.style.height = "auto";
    ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight, 220)}px`;
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: withKey({ Accept: "application/json" }) });
    if (res.status === 401) throw new NeedsKey(await errorMessage(res));
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  // Fill the model picker; preselect /api/config's default, else the first model.
  async function loadModels() {
    const [models, config] = await Promise.allSettled([getJSON("/v1/models"), getJSON("/api/config")]);
    const refused = [models, config].find((r) => r.status === "rejected" && r.reason instanceof NeedsKey);
    if (refused) {
      // Ask once; the stored key (if any) was just refused.
      ui.model.replaceChildren();
      return askForKey(storedKey() ? refused.reason.message : "");
    }
    const list = models.status === "fulfilled" && models.value && Array.isArray(models.value.data)
      ? models.value.data : [];
    const ids = list.map((m) => m && m.id).filter((id) => typeof id === "string" && id);
    const def = config.status === "fulfilled" && config.value ? config.value.default_model : null;
    if (typeof def === "string" && def && !ids.includes(def)) ids.unshift(def);
    ui.model.replaceChildren(...ids.map((id) => Object.assign(el("option", null, id), { value: id })));
    if (ids.length) ui.model.value = ids.includes(def) ? def : ids[0];
    else ui.messages.append(errorBlock("models_unavailable", "could not load the model list"));
  }

  ui.form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  ui.prompt.addEventListener("keydown", (e) => {
    // Enter sends, Shift+Enter inserts a newline; never send mid-IME composition.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  ui.prompt.addEventListener("input", autosize);
  ui.stop.addEventListener("click", () => { if (controller) controller.abort(); });
  ui.newChat.addEventListener("click", newChat);
  ui.keyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = ui.key.value.trim();
    if (key) tryKey(key);
  });

  setStatus("idle");
  ui.send.disabled = true; // until the model list is in, so the first request names a model
  loadModels().finally(() => { if (!controller && ui.keyForm.hidden) ui.send.disabled = false; });
})();
