// A small typed event emitter (no dependency on Node's or the DOM's).

export type Handler<T> = (value: T, meta: EventMeta) => void;

/** Extra facts about a dispatched value. */
export interface EventMeta {
  /** The event was missed while disconnected and is replayed from `reconnected.missed`. */
  replayed: boolean;
}

export class Emitter<M> {
  private handlers = new Map<keyof M, Set<Handler<never>>>();
  /** Errors thrown by handlers land here (never in the library's own code paths). */
  onHandlerError: (err: unknown) => void = (err) => {
    setTimeout(() => {
      throw err;
    });
  };

  /** Register `fn` for `type`; returns a function that unregisters it. */
  on<K extends keyof M>(type: K, fn: Handler<M[K]>): () => void {
    let set = this.handlers.get(type);
    if (!set) {
      set = new Set();
      this.handlers.set(type, set);
    }
    set.add(fn as Handler<never>);
    return () => this.off(type, fn);
  }

  /** Like `on`, for one call only. */
  once<K extends keyof M>(type: K, fn: Handler<M[K]>): () => void {
    const off = this.on(type, (v, m) => {
      off();
      fn(v, m);
    });
    return off;
  }

  off<K extends keyof M>(type: K, fn: Handler<M[K]>): void {
    this.handlers.get(type)?.delete(fn as Handler<never>);
  }

  emit<K extends keyof M>(type: K, value: M[K], meta: EventMeta = { replayed: false }): void {
    const set = this.handlers.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Handler<M[K]>)(value, meta);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }
}
