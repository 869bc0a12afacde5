// Resumption after the SERVER drops the socket while it stays up: the server's heartbeat
// (`--ws-ping-interval-ms`, `--ws-ping-timeout-ms`, short here) pings every WebSocket and drops
// one that does not answer. Player A's socket stops answering pings for a moment, so the server
// cuts it (counted as `ping_timeout`); while A cannot get back in, B plays on; then A resumes
// with its reconnect token and the last `room_seq` it applied, gets the missed events replayed
// in order and plays on in the same seat.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { memoryStore, type MoveEvent, type WebSocketCtor } from "../../src/index.js";
import { closeAll, guest, session } from "../support/clients.js";
import { removeDir, startServer, until, type Server } from "../support/server.js";

let srv: Server;
before(async () => {
  srv = await startServer({ env: { WS_PING_INTERVAL_MS: "200", WS_PING_TIMEOUT_MS: "300" } });
});
after(async () => {
  closeAll();
  await srv.stop();
  removeDir(srv.dataDir);
});

/** A `ws` socket that answers the server's pings only while `deaf` is false, connects to a
 * closed port while `away` is true, and records the text it sends. */
function controlledWs() {
  const ctl = { deaf: false, away: false, sent: [] as string[], opened: 0 };
  class Controlled extends WebSocket {
    constructor(url: string) {
      super(ctl.away ? "ws://127.0.0.1:1/ws" : url, { autoPong: false });
      ctl.opened += 1;
      this.on("ping", (data) => {
        if (!ctl.deaf) this.pong(data);
      });
    }
    override send(data: unknown, ...rest: unknown[]): void {
      if (typeof data === "string") ctl.sent.push(data);
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  return { ctl, Ctor: Controlled as unknown as WebSocketCtor };
}

async function pingTimeouts(): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^roomcore_ws_disconnections_total\{[^}]*reason="ping_timeout"[^}]*\} (\d+)/gm)) {
    n += Number(m[1]);
  }
  return n;
}

test("a game resumes after the server drops the socket (heartbeat timeout)", async () => {
  const { ctl, Ctor } = controlledWs();
  const a = await session(await guest(srv.url, memoryStore(), Ctor));
  const b = await session(await guest(srv.url));
  const j = await a.s.createRoom({ type: "create_room", kind: "chess", name: "heartbeat" });
  await b.s.joinRoom(j.room);
  await until(() => a.events.some((e) => e.ev.type === "game_started"), 3000, "game_started");
  await a.s.move("e2e4");
  await until(() => b.events.some((e) => e.ev.type === "move"), 3000, "b sees e4");
  // Both sockets live through several heartbeats while they answer.
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(!a.states.includes("disconnected"), `answered pings keep the socket: ${a.states}`);
  const before = await pingTimeouts();
  const seatBefore = { ...a.s.seatInfo };
  assert.ok(seatBefore.token);
  const lastBefore = a.s.lastSeq;

  // A stops answering pings, and cannot get back in for now: the server drops the socket.
  ctl.deaf = true;
  ctl.away = true;
  const drop = await (async () => {
    let got: { code?: number } | undefined;
    const off = a.s.onState((x) => {
      if (x.state === "disconnected" && !got) got = x;
    });
    await until(() => got !== undefined, 5000, "the server drops A");
    off();
    return got as { code?: number };
  })();
  assert.equal(drop.code, 1006, "dropped by the server without a close frame");
  await until(async () => (await pingTimeouts()) > before, 3000, "counted as ping_timeout");
  await until(() => b.events.some((e) => e.ev.type === "player_disconnected"), 3000, "b hears of it");
  await b.s.move("e7e5");
  await b.s.request({ type: "offer_draw" });
  const bLast = b.s.lastSeq;
  assert.ok(a.s.lastSeq < bLast);

  // A answers pings again and may reconnect: it resumes its seat with token and last_seq.
  ctl.deaf = false;
  ctl.away = false;
  await until(() => a.states.includes("reconnected"), 8000, "a reconnected");
  await until(() => a.s.lastSeq >= bLast, 3000, "a caught up");
  const reconnects = ctl.sent.map((t) => JSON.parse(t) as { type: string; token?: string; last_seq?: number }).filter((m) => m.type === "reconnect");
  assert.equal(reconnects.length, 1, JSON.stringify(reconnects));
  assert.equal(reconnects[0]?.token, seatBefore.token);
  assert.equal(reconnects[0]?.last_seq, lastBefore);
  const replayed = a.events.filter((e) => e.replayed).map((e) => e.ev);
  assert.deepEqual(
    replayed.map((e) => e.type),
    ["player_disconnected", "move", "draw_offered"],
  );
  const seqs = replayed.map((e) => e.room_seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal((replayed[1] as MoveEvent).san, "e5");
  const all = a.events.map((e) => e.ev.room_seq);
  assert.equal(new Set(all).size, all.length, "no event applied twice");
  // Same seat: A answers the draw offer and plays on.
  assert.equal(a.s.seatInfo?.seat, seatBefore.seat);
  await a.s.request({ type: "decline_draw" });
  await a.s.move("Qh5");
  await until(() => b.events.some((e) => e.ev.type === "move" && (e.ev as MoveEvent).san === "Qh5"), 3000, "b sees Qh5");
  // The new socket answers pings and stays.
  const resumedAt = a.states.lastIndexOf("reconnected");
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(!a.states.slice(resumedAt).includes("disconnected"), `${a.states}`);
  a.s.close();
  b.s.close();
});
