// A relay room (`GET /ws/relay/{room}`, docs/protocol.md): every text or binary message reaches
// every other member unchanged. Reconnects with backoff like the game session; messages sent
// while disconnected are refused (`send` returns false), not queued.

import { Emitter, type Handler } from "./emitter.js";
import { ManagedSocket, type SocketOptions } from "./socket.js";

/** 1 to 64 of `A-Z a-z 0-9 _ - . :`. */
export const RELAY_ROOM = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface RelayEvents {
  /** A peer's message: text as string, binary as bytes. */
  message: string | Uint8Array;
}

export interface RelayOptions extends SocketOptions {
  /** WebSocket URL of `/ws/relay/{room}` for the next attempt. */
  url: () => string;
}

export class RelayConnection extends ManagedSocket {
  readonly events = new Emitter<RelayEvents>();
  constructor(private readonly o: RelayOptions) {
    super(o);
  }

  /** Join; resolves once the room accepted the socket (its 101 answer). */
  connect(): Promise<void> {
    return this.start();
  }

  on<K extends keyof RelayEvents>(type: K, fn: Handler<RelayEvents[K]>): () => void {
    return this.events.on(type, fn);
  }

  /** Send to the other members; false when not connected (nothing was sent). */
  send(data: string | Uint8Array | ArrayBuffer): boolean {
    return this.ready && this.sendRaw(data);
  }

  protected url(): string {
    return this.o.url();
  }
  protected async handshake(): Promise<void> {
    // The 101 is written as the socket joins the room: open means joined.
  }
  protected onData(data: string | Uint8Array): void {
    this.events.emit("message", data);
  }
}
