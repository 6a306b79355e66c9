// An answer's markdown, rendered while it streams, at most once per animation frame.
//
// Re-parsing the whole answer on every token would cost O(n^2) over a long answer. Instead the
// text is split into finished blocks and one live tail: a block followed by another block cannot
// change any more (with two exceptions below), so it is rendered once and kept; each frame
// parses and renders only the tail. When the answer ends, the whole text is rendered once, so
// the final DOM is exactly what a full parse gives (reference links, a list split by a blank
// line: the only cases where a later block changes an earlier one).
import { lex, renderMarkdown } from "./markdown.js";

export const stats = { renders: 0, renderMs: 0 }; // read by benchmarks/run_page.py

export class LiveMarkdown {
  constructor(container) {
    this.container = container;
    this.done = document.createElement("div"); // finished blocks, appended to only
    this.done.className = "md-done";
    this.tail = document.createElement("div"); // the live block(s), replaced each frame
    this.tail.className = "md-tail";
    container.replaceChildren(this.done, this.tail);
    this.text = "";
    this.committed = 0; // chars of `text` rendered into `done`
    this.frame = 0;
  }

  /** Adds streamed text; rendering happens on the next animation frame. */
  append(text) {
    this.text += text;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Renders what has arrived (tokens committed, tail replaced). */
  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const t0 = performance.now();
    const tokens = lex(this.text.slice(this.committed));
    // Commit every block but the last real one; a list stays live while it is the last
    // block before the tail (its next item may still come after a blank line).
    let last = tokens.length - 1;
    while (last >= 0 && tokens[last].type === "space") last -= 1;
    let keep = last - 1;
    while (keep >= 0 && (tokens[keep].type === "space" || tokens[keep].type === "list")) keep -= 1;
    if (keep >= 0) {
      const raw = tokens.slice(0, keep + 1).map((tok) => tok.raw).join("");
      // The lexer normalises line ends; commit only when its pieces are the text verbatim.
      if (this.text.startsWith(raw, this.committed)) {
        this.done.append(renderMarkdown(raw));
        this.committed += raw.length;
      }
    }
    this.tail.replaceChildren(renderMarkdown(this.text.slice(this.committed)));
    stats.renders += 1;
    stats.renderMs += performance.now() - t0;
  }

  /** The answer ended: one full render replaces the pieces. */
  finish() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.container.replaceChildren(renderMarkdown(this.text));
  }
}
