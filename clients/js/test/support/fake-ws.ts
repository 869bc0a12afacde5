// An in-memory WebSocket for unit tests: the test plays the server.

import type { WebSocketLike } from "../../src/index.js";

export class FakeWs implements WebSocketLike {
  static all: FakeWs[] = [];
  static refuse = false;
  readyState = 0;
  binaryType = "blob";
  sent: unknown[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
    setTimeout(() => {
      if (FakeWs.refuse) {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: "" });
      } else {
        this.readyState = 1;
        this.onopen?.({});
      }
    }, 0);
  }
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    this.sent.push(typeof data === "string" ? JSON.parse(data) : data);
  }
  close(): void {
    this.readyState = 3;
  }
  /** The server sends `msg`. */
  push(msg: unknown): void {
    this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }
  /** The server drops the socket. */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /** The last message sent of `type`. */
  last(type: string): Record<string, unknown> {
    const m = [...this.sent].reverse().find((x) => (x as { type?: string }).type === type);
    if (!m) throw new Error(`nothing of type ${type} sent; sent: ${JSON.stringify(this.sent)}`);
    return m as Record<string, unknown>;
  }
  static reset(): void {
    FakeWs.all = [];
    FakeWs.refuse = false;
  }
  static get latest(): FakeWs {
    const w = FakeWs.all[FakeWs.all.length - 1];
    if (!w) throw new Error("no socket");
    return w;
  }
}
