// Clients for the integration tests: Node's fetch, the `ws` package as WebSocket, memory storage.

import WebSocket from "ws";
import { Client, memoryStore, ROOM_EVENT_TYPES, type GameSession, type KeyValueStore, type RoomEventMessage, type WebSocketCtor } from "../../src/index.js";

export const NodeWs = WebSocket as unknown as WebSocketCtor;

const open = new Set<{ close(): void }>();

/** Close every session and relay the tests opened (a failed test leaves none retrying). */
export function closeAll(): void {
  for (const x of open) x.close();
  open.clear();
}

export async function guest(url: string, storage: KeyValueStore = memoryStore(), ws: WebSocketCtor = NodeWs): Promise<Client> {
  const c = new Client(url, { WebSocket: ws, storage, timeoutMs: 5000, backoff: { initialMs: 50, maxMs: 400 } });
  await c.guest();
  const game = c.game.bind(c);
  const relay = c.relay.bind(c);
  c.game = (o) => {
    const s = game(o);
    open.add(s);
    return s;
  };
  c.relay = (room) => {
    const r = relay(room);
    open.add(r);
    return r;
  };
  return c;
}

/** A connected game session that records every room event it applies. */
export async function session(c: Client): Promise<{ s: GameSession; events: { ev: RoomEventMessage; replayed: boolean }[]; states: string[] }> {
  const s = c.game({ keepaliveMs: 0 });
  const events: { ev: RoomEventMessage; replayed: boolean }[] = [];
  const states: string[] = [];
  s.onState((x) => states.push(x.state));
  s.on("message", (m, meta) => {
    if ((ROOM_EVENT_TYPES as readonly string[]).includes(m.type)) events.push({ ev: m as RoomEventMessage, replayed: meta.replayed });
  });
  await s.connect();
  return { s, events, states };
}
