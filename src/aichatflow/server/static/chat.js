// aichatflow chat page: the controller. It owns the state of the open conversation and wires
// the composer, the sidebar and the answers together; each concern lives in ./js/ (plain ES
// modules, no build step; the libraries are vendored release files under ./vendor/).
import { NeedsKey, call, postChat, resumeChat, stopChat, storedKey } from "./js/api.js";
import { el } from "./js/dom.js";
import { KeyPrompt } from "./js/key-prompt.js";
import { lastQuestionOf, refreshLastTurn } from "./js/last-turn.js";
import { stats } from "./js/live-markdown.js";
import { onCopyClick, warmUp } from "./js/markdown.js";
import { Sidebar } from "./js/sidebar.js";
import { readAnswer } from "./js/stream.js";
import { setupTheme } from "./js/theme.js";
import { AssistantTurn, notice, turnOf, userMessage } from "./js/turn.js";
import { renderConversation } from "./js/history.js";

const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), messages: $("messages"), thread: $("thread"), form: $("composer"),
  prompt: $("prompt"), send: $("send"), stop: $("stop"), newChat: $("new"), status: $("status"),
  keyForm: $("key-form"), key: $("key"), keyError: $("key-error"), sidebar: $("sidebar"),
  conversations: $("conversations"), toggleSidebar: $("toggle-sidebar"), theme: $("theme"),
};
// The only global, read by tests and benchmarks: text frames of the current answer, render
// statistics, and the raw (markdown) text of every answer on screen.
const api = (window.aichatflow = {
  frames: 0,
  stats,
  answers: () => [...ui.thread.querySelectorAll("article.msg.assistant")].map((a) => turnOf.get(a).text),
});

const state = {
  features: { conversations: false, resume: false },
  conversationId: null, // stored mode: the server holds the history
  history: [], // without a store: [{role, content}], the whole conversation sent every turn
  run: null, // the answer in flight: {ctl, turn}
  epoch: 0, // bumped on switching conversation, so a late-ending answer cannot touch the new one
};

const keyPrompt = new KeyPrompt(ui, {
  onAccepted: async () => {
    await loadConfig();
    if (!keyPrompt.open && !state.run) ui.send.disabled = false;
    ui.prompt.focus();
  },
});
const sidebar = new Sidebar(ui.conversations, {
  onSelect: (id) => { closeSidebarIfNarrow(); openConversation(id); },
  onDeleted: (id) => { if (id === state.conversationId) newChat(); },
  onError: (err) => failed(err),
});

function setStatus(s) { ui.status.textContent = s; ui.status.dataset.status = s; }
function setBusy(busy) { ui.send.disabled = busy || keyPrompt.open; ui.stop.disabled = !busy; }
function failed(err) {
  if (err instanceof NeedsKey) return keyPrompt.ask(storedKey() ? err.message : "");
  notice(ui.thread, err.code || "error", err.message || String(err));
}

// Follow the stream only while the reader is at the bottom, so scrolling up is not fought.
let stick = true;
ui.messages.addEventListener("scroll", () => {
  stick = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
});
const scrollDown = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };
new ResizeObserver(() => { if (stick) scrollDown(); }).observe(ui.thread);

// Edit (the last question) and Regenerate (the last answer): both ask again in their place.
const refreshActions = () => refreshLastTurn(ui.thread, {
  busy: !!state.run,
  resend: (text) => ask(text, { replace: true }),
});
const lastQuestion = () => lastQuestionOf(ui.thread);

// --- asking ------------------------------------------------------------------------------------
/** Sends `text` as the next question; `replace`: instead of the last question and its answer. */
async function ask(text, { replace = false } = {}) {
  if (!text || state.run || keyPrompt.open) return;
  const body = { model: ui.model.value };
  if (replace) {
    const users = ui.thread.querySelectorAll("article.msg.user");
    const last = users[users.length - 1];
    if (last) {
      if (last.dataset.id && state.conversationId) body.replace_from = last.dataset.id;
      while (last.nextSibling) last.nextSibling.remove();
      last.remove();
      if (!state.features.conversations) {
        // The history holds the question only if it was answered: cut at the n-th question.
        let seen = 0;
        const i = state.history.findIndex((m) => m.role === "user" && ++seen === users.length);
        if (i >= 0) state.history.length = i;
      }
    }
  }
  if (state.features.conversations) {
    body.messages = [{ role: "user", content: text }];
    if (state.conversationId) body.conversation_id = state.conversationId;
  } else {
    state.history.push({ role: "user", content: text });
    body.messages = state.history.slice();
  }
  userMessage(ui.thread, text);
  stick = true;
  await run((ctl) => postChat(body, ctl.signal), { timed: true });
}

/** Runs one answer: `request(ctl)` gives the response, read into a new turn. */
async function run(request, { timed, streamId } = {}) {
  const mine = state.epoch;
  const ctl = new AbortController();
  const turn = new AssistantTurn(ui.thread, {
    timed,
    onRetry: () => ask(lastQuestion(), { replace: true }),
    onTextFrame: () => { api.frames += 1; },
  });
  if (streamId) turn.root.dataset.streamId = streamId;
  state.run = { ctl, turn };
  api.frames = 0;
  setBusy(true);
  setStatus("streaming");
  refreshActions();
  let outcome;
  try {
    const res = await request(ctl);
    if (res.status === 401) {
      const { message } = await res.json().then((b) => b.error || {}, () => ({}));
      keyPrompt.ask(message || "");
      outcome = { state: "error", code: "http_401", message: message || "this server wants an API key" };
    } else {
      outcome = await readAnswer(res, turn, { onStart: started });
    }
  } catch (err) {
    outcome = ctl.signal.aborted
      ? { state: "stopped" }
      : { state: "error", code: "network_error", message: (err && err.message) || String(err), retryable: true };
  }
  if (mine !== state.epoch) return; // the reader switched conversation: the answer is not shown
  state.run = null;
  setBusy(false);
  turn.finish(outcome);
  if (!state.features.conversations) {
    // Whatever text came (even a stopped partial) is context for the next turn; a turn with no
    // text drops its question too, so the roles keep alternating.
    if (turn.text) state.history.push({ role: "assistant", content: turn.text });
    else if (state.history.length && state.history[state.history.length - 1].role === "user") state.history.pop();
  } else if (state.conversationId) {
    await syncIds();
  }
  setStatus(outcome.state);
  refreshActions();
  if (!keyPrompt.open) ui.prompt.focus();
}

// The start frame: the question is stored, under this conversation (a new one gets its URL).
function started(turn) {
  if (!turn.conversationId || turn.conversationId === state.conversationId) return;
  state.conversationId = turn.conversationId;
  history.replaceState(null, "", `#c=${encodeURIComponent(turn.conversationId)}`);
  sidebar.select(turn.conversationId);
  sidebar.refresh();
}

// After a turn, the stored ids of the messages on screen (Edit and Regenerate replace from them).
async function syncIds() {
  const id = state.conversationId;
  let conv;
  try { conv = await call("GET", `/api/conversations/${encodeURIComponent(id)}`); } catch { return; }
  if (id !== state.conversationId || !conv || !Array.isArray(conv.messages)) return;
  // In order, by text: a question refused before its answer started is shown but not stored.
  const stored = conv.messages.filter((m) => m.role === "user");
  let next = 0;
  for (const article of ui.thread.querySelectorAll("article.msg.user")) {
    const text = article.querySelector(".text").textContent;
    const at = stored.findIndex((m, i) => i >= next && m.content === text);
    if (at < 0) continue;
    article.dataset.id = stored[at].id;
    next = at + 1;
  }
  sidebar.refresh();
}

async function stop() {
  if (!state.run) return;
  const { ctl, turn } = state.run;
  // With a journal the answer outlives this connection: ask the server to end it for everyone.
  if (state.features.resume && turn.streamId) await stopChat(turn.streamId);
  ctl.abort();
}

// --- conversations -----------------------------------------------------------------------------
function reset() {
  state.epoch += 1;
  if (state.run) state.run.ctl.abort();
  state.run = null;
  state.history.length = 0;
  api.frames = 0;
  ui.thread.replaceChildren();
  setBusy(false);
  setStatus("idle");
}

function newChat() {
  reset();
  state.conversationId = null;
  history.replaceState(null, "", location.pathname + location.search);
  sidebar.select(null);
  closeSidebarIfNarrow();
  ui.prompt.focus();
}

async function openConversation(id) {
  reset();
  state.conversationId = id;
  sidebar.select(id);
  history.replaceState(null, "", `#c=${encodeURIComponent(id)}`);
  let conv;
  try {
    conv = await call("GET", `/api/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) return newChat();
    return failed(err);
  }
  if (id !== state.conversationId) return;
  const live = renderConversation(ui.thread, conv.messages || [], {
    onRetry: () => ask(lastQuestion(), { replace: true }),
  });
  stick = true;
  scrollDown();
  refreshActions();
  // An answer still being written (the page was reloaded mid-answer): replayed from its first
  // event, so it continues with nothing missing and nothing twice.
  if (live && state.features.resume) {
    await run((ctl) => resumeChat(live.stream_id, ctl.signal), { timed: false, streamId: live.stream_id });
  }
}

// --- start-up ----------------------------------------------------------------------------------
async function loadConfig() {
  const [models, config] = await Promise.allSettled([call("GET", "/v1/models"), call("GET", "/api/config")]);
  const refused = [models, config].find((r) => r.status === "rejected" && r.reason instanceof NeedsKey);
  if (refused) {
    ui.model.replaceChildren();
    return keyPrompt.ask(storedKey() ? refused.reason.message : "");
  }
  const list = models.status === "fulfilled" && models.value && Array.isArray(models.value.data) ? models.value.data : [];
  const ids = list.map((m) => m && m.id).filter((id) => typeof id === "string" && id);
  const cfg = config.status === "fulfilled" && config.value ? config.value : {};
  const def = typeof cfg.default_model === "string" && cfg.default_model ? cfg.default_model : null;
  if (def && !ids.includes(def)) ids.unshift(def);
  ui.model.replaceChildren(...ids.map((id) => Object.assign(el("option", null, id), { value: id })));
  if (ids.length) ui.model.value = ids.includes(def) ? def : ids[0];
  else notice(ui.thread, "models_unavailable", "could not load the model list");
  const features = cfg.features || {};
  state.features = { conversations: features.conversations === true, resume: features.resume === true };
  document.body.dataset.conversations = state.features.conversations ? "on" : "off";
  if (!state.features.conversations) return;
  await sidebar.refresh();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("c");
  if (wanted) openConversation(wanted); // not awaited: a resumed answer streams in the background
}

const narrow = () => matchMedia("(max-width: 760px)").matches;
function closeSidebarIfNarrow() { if (narrow()) document.body.dataset.sidebar = "closed"; }

ui.form.addEventListener("submit", (e) => { e.preventDefault(); sendPrompt(); });
function sendPrompt() {
  const text = ui.prompt.value.trim();
  if (!text || state.run || ui.send.disabled) return;
  ui.prompt.value = "";
  autosize();
  ask(text);
}
ui.prompt.addEventListener("keydown", (e) => {
  // Enter sends, Shift+Enter inserts a newline; never send mid-IME composition.
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendPrompt(); }
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (state.run) { e.preventDefault(); stop(); } else closeSidebarIfNarrow();
});
// On a phone the sidebar lies over the chat: a tap beside it closes it.
document.addEventListener("click", (e) => {
  if (narrow() && !ui.sidebar.contains(e.target) && !ui.toggleSidebar.contains(e.target)) closeSidebarIfNarrow();
});
function autosize() {
  ui.prompt.style.height = "auto";
  ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight, 220)}px`;
}
ui.prompt.addEventListener("input", autosize);
ui.stop.addEventListener("click", stop);
ui.newChat.addEventListener("click", newChat);
ui.thread.addEventListener("click", onCopyClick);
ui.toggleSidebar.addEventListener("click", () => {
  document.body.dataset.sidebar = document.body.dataset.sidebar === "open" ? "closed" : "open";
});
setupTheme(ui.theme);
warmUp();

document.body.dataset.sidebar = narrow() ? "closed" : "open";
setStatus("idle");
ui.send.disabled = true; // until the model list is in, so the first request names a model
loadConfig().finally(() => { if (!state.run && !keyPrompt.open) ui.send.disabled = false; });
