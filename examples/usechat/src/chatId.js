// One chat per URL: the chat id lives in the hash (#chat=...), so a reload continues the same
// chat and `useChat({ resume: true })` can pick up an answer that was still being written.
import { generateId } from "ai";

export function chatId() {
  const found = new URLSearchParams(location.hash.slice(1)).get("chat");
  if (found && /^[A-Za-z0-9_-]{1,64}$/.test(found)) return found;
  const id = generateId();
  history.replaceState(null, "", `#chat=${id}`);
  return id;
}

// useChat keeps the messages in memory; aichatflow stores them too, but under an id derived
// from the caller's key, so this example keeps its own copy to show after a reload.
export function savedMessages(id) {
  try {
    return JSON.parse(localStorage.getItem(`chat:${id}`) ?? "[]");
  } catch {
    return [];
  }
}

export function saveMessages(id, messages) {
  localStorage.setItem(`chat:${id}`, JSON.stringify(messages));
}
