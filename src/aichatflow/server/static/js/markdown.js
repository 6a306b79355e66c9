// Markdown -> sanitised DOM. Model output is untrusted: marked turns it into HTML, DOMPurify
// keeps only harmless elements and attributes (no script, no event handlers, no javascript:
// or other non-http URLs) and hands back a DocumentFragment, so no HTML string is ever
// assigned to the page. highlight.js then colours code blocks from their text.
import { marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.js";
import hljs from "../vendor/highlight/highlight.min.js";

marked.setOptions({ gfm: true, breaks: false });
// A code element with child elements (raw HTML in a fence) is read as text all the same.
hljs.configure({ ignoreUnescapedHTML: true });

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  // Images would fetch from the page's own origin (the CSP blocks any other), at a URL the
  // model chose: not wanted. Forms and styles have no place in an answer.
  FORBID_TAGS: ["img", "style", "form", "svg", "math", "iframe", "object", "embed"],
  FORBID_ATTR: ["style", "srcset", "action", "formaction"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

// Links open apart from the chat and tell the target nothing.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

// Auto-detecting a language costs a pass per grammar: above this size a block without a
// language is left plain (it is still shown, and copied, in full).
const AUTO_DETECT_MAX = 20_000;

function highlight(code) {
  const lang = /\blanguage-([\w+#-]+)/.exec(code.className);
  if (lang && !hljs.getLanguage(lang[1])) code.classList.add("nohighlight");
  else if (!lang && code.textContent.length > AUTO_DETECT_MAX) code.classList.add("nohighlight");
  // highlightElement reads the element's text and writes back escaped, classed spans.
  if (!code.classList.contains("nohighlight")) hljs.highlightElement(code);
}

function decorate(fragment) {
  // marked puts a newline between blocks: layout does not need it, and text readers should not.
  for (const node of [...fragment.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE && !node.data.trim()) node.remove();
  }
  for (const code of fragment.querySelectorAll("pre > code")) {
    highlight(code);
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy code");
    code.parentElement.prepend(copy);
  }
  // Wide tables scroll inside their own box, never the page.
  for (const table of fragment.querySelectorAll("table")) {
    const box = document.createElement("div");
    box.className = "table-scroll";
    table.replaceWith(box);
    box.append(table);
  }
  return fragment;
}

/** The tokens of `text` (block level), for the streaming view to commit finished blocks. */
export const lex = (text) => marked.lexer(text);

/** `text` as a sanitised, highlighted DocumentFragment. */
export function renderMarkdown(text) {
  return decorate(DOMPurify.sanitize(marked.parse(text), PURIFY));
}

/** Renders a small sample while the page is idle: the first render of a session compiles
 * marked's and highlight.js's code paths (tens of ms), better before an answer than during. */
export function warmUp() {
  const sample = "# a\n\n- b **c**\n\n| d | e |\n|---|---|\n| f | g |\n\n```python\ndef h(i):\n    return 'j'\n```\n";
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 200));
  idle(() => renderMarkdown(sample));
}

/** One click handler (on the conversation) serves every code block's copy button. */
export function onCopyClick(event) {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const code = button.parentElement.querySelector("code");
  const done = (label) => { button.textContent = label; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  navigator.clipboard.writeText(code ? code.textContent : "").then(() => done("Copied"), () => done("Copy failed"));
}
