// Light and dark. Without a choice the page follows prefers-color-scheme (chat.css); the toggle
// pins the other one and is remembered in localStorage, for every tab of this origin.
const ITEM = "aichatflow.theme";

function systemDark() { return matchMedia("(prefers-color-scheme: dark)").matches; }

function apply(theme) {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

export function current() {
  const pinned = document.documentElement.dataset.theme;
  return pinned || (systemDark() ? "dark" : "light");
}

export function setupTheme(toggle) {
  let saved = null;
  try { saved = localStorage.getItem(ITEM); } catch { /* storage off */ }
  apply(saved);
  const label = () => {
    const next = current() === "dark" ? "light" : "dark";
    toggle.title = `Switch to ${next} theme`;
    toggle.setAttribute("aria-label", toggle.title);
    toggle.textContent = next === "dark" ? "☾" : "☀";
  };
  toggle.addEventListener("click", () => {
    const next = current() === "dark" ? "light" : "dark";
    // Back to "follow the system" when the choice matches it.
    const pin = next === (systemDark() ? "dark" : "light") ? null : next;
    apply(pin);
    try { if (pin) localStorage.setItem(ITEM, pin); else localStorage.removeItem(ITEM); } catch { /* storage off */ }
    label();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", label);
  label();
}
