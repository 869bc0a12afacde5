// Where tokens are kept: localStorage in browsers, memory elsewhere (or any Storage-like object).

/** The part of the Web Storage API the library uses. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A store in memory (Node, tests, private modes without storage). */
export function memoryStore(): KeyValueStore {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

/** `localStorage` when the platform has a usable one, else a memory store. */
export function defaultStore(): KeyValueStore {
  try {
    const ls = (globalThis as { localStorage?: KeyValueStore }).localStorage;
    if (ls) {
      const probe = "__roomcore_probe__";
      ls.setItem(probe, "1");
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    // storage disabled (privacy settings, sandboxed frames): fall through
  }
  return memoryStore();
}

/** JSON values under a key prefix. */
export class JsonStore {
  constructor(
    readonly store: KeyValueStore,
    readonly prefix: string,
  ) {}
  get<T>(key: string): T | null {
    try {
      const v = this.store.getItem(this.prefix + key);
      return v == null ? null : (JSON.parse(v) as T);
    } catch {
      return null;
    }
  }
  set(key: string, value: unknown): void {
    try {
      this.store.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
      // quota or disabled storage: the value lives only in memory then
    }
  }
  remove(key: string): void {
    try {
      this.store.removeItem(this.prefix + key);
    } catch {
      // ignore
    }
  }
}
