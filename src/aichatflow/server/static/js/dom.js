// Small DOM helpers shared by the page's modules. Text always goes in as textContent: anything
// the server or a model wrote is untrusted, and only markdown.js turns text into elements.

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

export function button(label, cls, onClick, title) {
  const node = el("button", cls, label);
  node.type = "button";
  if (title) { node.title = title; node.setAttribute("aria-label", title); }
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

/** "850 ms" below a second, "1.2 s" above. */
export const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
