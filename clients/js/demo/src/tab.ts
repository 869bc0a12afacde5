// Per-tab identity. Tokens live in localStorage under a prefix named by a tab id kept in
// sessionStorage: a reload finds the same tab id (and so its guest account and seat), while a
// second tab gets its own id and signs in as another guest, so one browser can play both sides.
// Entries of tabs not seen for a day (the guest token's lifetime) are removed.

const TAB_KEY = "roomcore-tab";
const DAY_MS = 24 * 3600 * 1000;

export function tabPrefix(): string {
  let id: string | null = null;
  try {
    id = sessionStorage.getItem(TAB_KEY);
    if (!id) {
      id = crypto.randomUUID().slice(0, 8);
      sessionStorage.setItem(TAB_KEY, id);
    }
  } catch {
    id = "t";
  }
  const prefix = `roomcore:${id}:`;
  try {
    localStorage.setItem(prefix + "seen", String(Date.now()));
    prune();
  } catch {
    // storage disabled: the library falls back to memory
  }
  return prefix;
}

function prune(): void {
  const now = Date.now();
  const stale = new Set<string>();
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    const m = k && /^roomcore:([^:]+):seen$/.exec(k);
    if (m && now - Number(localStorage.getItem(k as string)) > DAY_MS) stale.add(`roomcore:${m[1]}:`);
  }
  if (stale.size === 0) return;
  const drop: string[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && [...stale].some((p) => k.startsWith(p))) drop.push(k);
  }
  for (const k of drop) localStorage.removeItem(k);
}
