// The sidebar: the stored conversations of this key, newest first (GET /api/conversations),
// with switch, rename (inline, Enter saves, Esc cancels) and delete (a second click confirms).
import { call } from "./api.js";
import { button, el } from "./dom.js";

export class Sidebar {
  constructor(list, { onSelect, onDeleted, onError }) {
    this.list = list;
    this.onSelect = onSelect;
    this.onDeleted = onDeleted;
    this.onError = onError;
    this.current = null;
    this.items = [];
  }

  async refresh() {
    try {
      const page = await call("GET", "/api/conversations?limit=100");
      this.items = Array.isArray(page && page.data) ? page.data : [];
    } catch (err) {
      return this.onError(err);
    }
    this.render();
  }

  select(id) {
    this.current = id;
    for (const li of this.list.children) li.classList.toggle("current", li.dataset.id === id);
  }

  render() {
    this.list.replaceChildren(...this.items.map((c) => this.#item(c)));
    this.select(this.current);
  }

  #item(c) {
    const li = el("li", "conv");
    li.dataset.id = c.id;
    const open = button(c.title || "Untitled", "conv-open", () => this.onSelect(c.id));
    const rename = button("✎", "conv-rename icon", () => this.#rename(li, c), "Rename");
    const del = button("✕", "conv-delete icon", () => this.#delete(del, c), "Delete");
    li.append(open, rename, del);
    return li;
  }

  #rename(li, c) {
    const input = el("input", "conv-title");
    input.value = c.title || "";
    input.maxLength = 200;
    input.setAttribute("aria-label", "Conversation title");
    li.replaceChildren(input);
    input.focus();
    input.select();
    let settled = false;
    const settle = async (save) => {
      if (settled) return;
      settled = true;
      const title = input.value.trim();
      if (save && title && title !== c.title) {
        try { Object.assign(c, await call("PATCH", `/api/conversations/${encodeURIComponent(c.id)}`, { title })); }
        catch (err) { this.onError(err); }
      }
      this.render();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); settle(true); }
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); settle(false); }
    });
    input.addEventListener("blur", () => settle(true));
  }

  async #delete(del, c) {
    if (!del.classList.contains("confirm")) {
      del.classList.add("confirm");
      del.textContent = "Delete?";
      setTimeout(() => { del.classList.remove("confirm"); del.textContent = "✕"; }, 4000);
      return;
    }
    try { await call("DELETE", `/api/conversations/${encodeURIComponent(c.id)}`); }
    catch (err) { if (err.status !== 404) return this.onError(err); }
    this.items = this.items.filter((x) => x.id !== c.id);
    this.render();
    this.onDeleted(c.id);
  }
}
