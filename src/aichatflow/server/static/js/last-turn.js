// The last turn's actions: Edit on the last question, Regenerate on the last answer. Only the
// last turn has them: the server can replace the last question and what follows it
// (replace_from), and an answer further up is context the later turns were built on.
import { button, el } from "./dom.js";

/** The text of the last question on screen ("" when there is none). */
export function lastQuestionOf(thread) {
  const users = thread.querySelectorAll("article.msg.user .text");
  return users.length ? users[users.length - 1].textContent : "";
}

/** Puts the buttons on the last turn (none while an answer runs); `resend(text)` asks again
 * in place of the last question and its answer. */
export function refreshLastTurn(thread, { busy, resend }) {
  for (const box of thread.querySelectorAll(".msg-actions")) box.replaceChildren();
  if (busy) return;
  const users = thread.querySelectorAll("article.msg.user");
  const lastUser = users[users.length - 1];
  if (!lastUser) return;
  const refresh = () => refreshLastTurn(thread, { busy, resend });
  lastUser.querySelector(".msg-actions").append(button("Edit", "edit secondary", () => edit(lastUser, resend, refresh)));
  const answer = lastUser.nextElementSibling;
  if (answer && answer.matches("article.msg.assistant")) {
    answer.querySelector(".msg-actions").append(button("Regenerate", "regenerate secondary", () => resend(lastQuestionOf(thread))));
  }
}

// The question becomes a text box: Enter (or Send) resends it, Esc (or Cancel) puts it back.
function edit(article, resend, refresh) {
  const bubble = article.querySelector(".bubble");
  const old = bubble.querySelector(".text").textContent;
  const box = el("textarea", "edit-text");
  box.value = old;
  box.setAttribute("aria-label", "Edit your question");
  const cancel = () => { bubble.replaceChildren(el("div", "text", old)); refresh(); };
  const save = () => { const text = box.value.trim(); if (text) resend(text); else cancel(); };
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(); }
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); cancel(); }
  });
  const row = el("div", "edit-actions");
  row.append(button("Send", "edit-send", save), button("Cancel", "edit-cancel secondary", cancel));
  bubble.replaceChildren(box, row);
  article.querySelector(".msg-actions").replaceChildren();
  box.focus();
}
