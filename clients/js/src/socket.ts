// A WebSocket that reconnects by itself: exponential backoff with jitter between attempts, a
// handshake after each open (the subclass's), and connection-state events. `close()` ends it
// for good and stops every timer.

import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { ClosedError } from "./errors.js";

/** The part of the WebSocket API the library uses (the browser's and the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** Connection states, in the order they are usually seen. */
export type ConnState = "idle" | "connecting" | "connected" | "disconnected" | "reconnected" | "closed";

export interface StateChange {
  state: ConnState;
  /** Consecutive failed attempts so far. */
  attempt: number;
  /** `disconnected`: when the next attempt starts (ms). */
  delayMs?: number;
  /** `disconnected`/`closed`: the close code and reason. */
  code?: number;
  reason?: string;
  /** `closed` because of this error (a refused token, ...). */
  error?: unknown;
}

export interface SocketOptions {
  WebSocket: WebSocketCtor;
  backoff?: BackoffOptions;
  /** Random source of the jitter (tests). */
  random?: () => number;
}

/** Thrown by a handshake to stop reconnecting (a refused token): the socket closes for good. */
export class FatalError extends Error {
  readonly reason: unknown;
  constructor(reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.reason = reason;
  }
}

export abstract class ManagedSocket {
  readonly stateEvents = new Emitter<{ state: StateChange }>();
  private ws: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private everReady = false;
  private closedForGood = false;
  private live = false;
  private first: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  private current: ConnState = "idle";

  constructor(protected readonly sockOpts: SocketOptions) {}

  /** The current state. */
  get state(): ConnState {
    return this.current;
  }
  /** Open and past the handshake. */
  get ready(): boolean {
    return this.live;
  }
  /** `close()` was called (or a fatal error closed it). */
  get closed(): boolean {
    return this.closedForGood;
  }

  /** Register for state changes; returns the function that unregisters. */
  onState(fn: (s: StateChange) => void): () => void {
    return this.stateEvents.on("state", (s) => fn(s));
  }

  /** Start connecting; resolves once the first handshake is done. A failed attempt is
   * retried with backoff; rejects on a fatal error or `close()`. */
  protected start(): Promise<void> {
    if (this.closedForGood) return Promise.reject(new ClosedError("closed"));
    const p = new Promise<void>((resolve, reject) => {
      this.first = { resolve, reject };
    });
    if (this.current === "idle") this.open();
    return p;
  }

  /** The URL of the next attempt. */
  protected abstract url(): string;
  /** Runs after each open; resolves when the session is usable. Throw `FatalError` to stop. */
  protected abstract handshake(): Promise<void>;
  /** Every message of the live socket (text as string, binary as Uint8Array). */
  protected abstract onData(data: string | Uint8Array): void;
  /** The socket is gone (before a reconnect is scheduled). */
  protected onGone(_code: number, _reason: string): void {}
  /** Whether to reconnect after the socket closed with `code`. */
  protected shouldReconnect(_code: number, _reason: string): boolean {
    return true;
  }

  /** Send on the current socket; false when there is none open. */
  protected sendRaw(data: string | ArrayBuffer | ArrayBufferView): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(data);
    return true;
  }

  private setState(s: Omit<StateChange, "attempt"> & { attempt?: number }): void {
    this.current = s.state;
    this.stateEvents.emit("state", { attempt: this.attempts, ...s });
  }

  private open(): void {
    this.timer = undefined;
    if (this.closedForGood) return;
    this.setState({ state: "connecting" });
    let ws: WebSocketLike;
    try {
      ws = new this.sockOpts.WebSocket(this.url());
    } catch (err) {
      this.gone(1006, String(err));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.handshake().then(
        () => {
          if (this.ws !== ws || this.closedForGood) return;
          this.attempts = 0;
          this.live = true;
          this.setState({ state: this.everReady ? "reconnected" : "connected" });
          this.everReady = true;
          this.first?.resolve();
          this.first = null;
        },
        (err) => {
          if (this.ws !== ws || this.closedForGood) return;
          if (err instanceof FatalError) this.fail(err.reason);
          else this.drop(1006, `handshake failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      const d = ev.data;
      if (typeof d === "string") this.onData(d);
      else if (d instanceof ArrayBuffer) this.onData(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) this.onData(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.gone(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // a close event follows
    };
  }

  /** Give up on the current socket (a dead peer, a failed handshake) and reconnect. */
  protected drop(code = 4999, reason = "dropped by client"): void {
    const ws = this.ws;
    if (!ws) return;
    detach(ws);
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
    this.gone(code, reason);
  }

  private gone(code: number, reason: string): void {
    this.ws = null;
    this.live = false;
    this.onGone(code, reason);
    if (this.closedForGood) return;
    if (!this.shouldReconnect(code, reason)) {
      this.finish({ state: "closed", code, reason }, new ClosedError(reason || `closed with ${code}`));
      return;
    }
    const delayMs = backoffDelay(this.attempts, this.sockOpts.backoff, this.sockOpts.random);
    this.attempts += 1;
    this.setState({ state: "disconnected", code, reason, delayMs });
    this.timer = setTimeout(() => this.open(), delayMs);
  }

  private fail(error: unknown): void {
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000);
      } catch {
        // ignore
      }
    }
    this.onGone(1000, "fatal error");
    this.finish({ state: "closed", error }, error);
  }

  private finish(s: Omit<StateChange, "attempt">, error: unknown): void {
    this.closedForGood = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.setState(s);
    this.first?.reject(error);
    this.first = null;
  }

  /** Close for good: no more attempts, every pending request fails with `ClosedError`. */
  close(): void {
    if (this.closedForGood) return;
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    this.closedForGood = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000);
      } catch {
        // ignore
      }
    }
    this.onGone(1000, "closed by client");
    this.setState({ state: "closed", code: 1000, reason: "closed by client" });
    this.first?.reject(new ClosedError("closed by client"));
    this.first = null;
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  // Not null: closing a socket that is still connecting makes the `ws` package emit an error
  // afterwards, which Node throws when nothing listens.
  ws.onerror = () => undefined;
}
