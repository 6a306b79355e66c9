// The key prompt, shown only when the server wants a key (it answered 401). A key the server
// refuses is not kept, and the server's reason is shown (as text).
import { checkKey, storeKey } from "./api.js";

export class KeyPrompt {
  constructor(ui, { onAccepted }) {
    this.ui = ui; // {keyForm, key, keyError, send}
    this.onAccepted = onAccepted;
    ui.keyForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const key = ui.key.value.trim();
      if (key) this.#try(key);
    });
  }

  get open() { return !this.ui.keyForm.hidden; }

  ask(message) {
    const ui = this.ui;
    storeKey(""); // a key the server refused is not kept
    ui.send.disabled = true;
    ui.keyForm.hidden = false;
    ui.keyError.hidden = !message;
    ui.keyError.textContent = message || "";
    ui.key.value = "";
    ui.key.focus();
  }

  async #try(key) {
    const refused = await checkKey(key);
    if (refused) return this.ask(refused);
    storeKey(key);
    this.ui.keyForm.hidden = true;
    this.ui.keyError.hidden = true;
    await this.onAccepted();
  }
}
