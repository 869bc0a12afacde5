// DOM helpers: elements are built with createElement and text with textContent only (the page
// runs under `require-trusted-types-for 'script'`: no innerHTML anywhere).

type Child = Node | string | number | null | undefined | false;

/** `h("button", {class: "x", "data-test": "go"}, "Go")`. Boolean attributes: true = present. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
}

/** A button with a click handler. */
export function button(label: string, onClick: () => void, attrs: Record<string, string | boolean | undefined> = {}) {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** Names arrive HTML-escaped from the server (docs/games.md); the page shows them as text. */
export function unescapeName(s: string | null | undefined): string {
  if (!s) return "";
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x2F;/g, "/")
    .replace(/&amp;/g, "&");
}

/** `m:ss` (or `h:mm:ss`) of a clock in ms; tenths under 10 s. */
export function fmtClock(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 10_000) return `0:0${(t / 1000).toFixed(1)}`;
  const s = Math.floor(t / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** A message line for an error (ProtocolError, HttpError, anything). */
export function errText(err: unknown): string {
  if (err && typeof err === "object" && "message" in err) {
    const code = (err as { code?: unknown }).code;
    const msg = String((err as { message: unknown }).message);
    return typeof code === "string" ? `${code}: ${msg}` : msg;
  }
  return String(err);
}
