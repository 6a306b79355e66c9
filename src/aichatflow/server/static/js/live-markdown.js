// An answer's markdown, rendered while it streams, at most once per animation frame.
//
// Re-parsing the whole answer on every token would cost O(n^2) over a long answer. Instead the
// text is split into finished blocks and one live tail: a block the lexer has closed (another
// block follows it) cannot change any more, so it is rendered once and kept; each frame parses
// and renders only the tail. Two cases are kept apart: a list stays live while only blank lines
// or the tail follow it (its next item may come after a blank line), and an answer with a
// reference-link definition is rendered whole once at the end (the definition changes links
// made before it).
import { lex, renderMarkdown } from "./markdown.js";

// Main-thread work of the current page, read by benchmarks/run_page.py: markdown renders, the
// final one, and reading the stream (SSE parsing and frame handling).
export const stats = { renders: 0, renderMs: 0, renderMaxMs: 0, finishMs: 0, readMs: 0, readMaxMs: 0 };

// Characters of markdown committed per frame at most: a few milliseconds of work.
const CHUNK = 1500;

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

  /** Renders what has arrived: finished blocks committed, the tail replaced. When much text
   * arrived at once, at most CHUNK characters are committed per frame and the tail waits for
   * the next frame, so one burst does not become one long task. */
  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const t0 = performance.now();
    const end = Math.min(this.text.length, this.committed + CHUNK);
    const tokens = lex(this.text.slice(this.committed, end));
    // Commit every block but the last real one (the last may still grow); a list stays live
    // while only blank lines separate it from the last block.
    let last = tokens.length - 1;
    while (last >= 0 && tokens[last].type === "space") last -= 1;
    let keep = last - 1;
    while (keep >= 0 && (tokens[keep].type === "space" || tokens[keep].type === "list")) keep -= 1;
    let advanced = false;
    if (keep >= 0) {
      const raw = tokens.slice(0, keep + 1).map((tok) => tok.raw).join("");
      // The lexer normalises line ends; commit only when its pieces are the text verbatim.
      if (this.text.startsWith(raw, this.committed)) {
        this.done.append(renderMarkdown(raw));
        this.committed += raw.length;
        advanced = true;
      }
    }
    if (advanced && end < this.text.length) {
      this.tail.replaceChildren(); // what it showed is committed now; the rest next frame
      this.frame = requestAnimationFrame(() => this.flush());
    } else {
      // Everything left is the tail (one block longer than CHUNK is rendered whole: it has
      // no boundary to stop at).
      this.tail.replaceChildren(renderMarkdown(this.text.slice(this.committed)));
    }
    stats.renders += 1;
    stats.renderMs += performance.now() - t0;
    stats.renderMaxMs = Math.max(stats.renderMaxMs, performance.now() - t0);
  }

  /** The answer ended: the last blocks are rendered. A full render replaces the pieces only
   * when a later block can change an earlier one (a reference link's definition). */
  finish() {
    const t0 = performance.now();
    if (REFERENCE.test(this.text)) {
      if (this.frame) cancelAnimationFrame(this.frame);
      this.frame = 0;
      this.container.replaceChildren(renderMarkdown(this.text));
    } else {
      this.flush();
    }
    stats.finishMs += performance.now() - t0;
  }
}

// "[label]: url" at the start of a line: a link definition, which links made before it use.
const REFERENCE = /^ {0,3}\[[^\]\n]+\]:/m;
