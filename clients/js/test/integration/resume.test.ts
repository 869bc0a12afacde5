// Resumption against the real server: the connection of one player is cut (a TCP proxy in
// between drops both sides, as a network failure does) while the other plays on; the client
// reconnects with backoff, takes its seat back and replays the missed events in order. With
// more than the room log holds (128 events) missed, it takes the full state instead.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { isPartyRoom, type MoveEvent, type RoomEventMessage } from "../../src/index.js";
import { closeAll, guest, session } from "../support/clients.js";
import { Proxy } from "../support/proxy.js";
import { removeDir, startServer, until, type Server } from "../support/server.js";

let srv: Server;
const proxies: Proxy[] = [];
function proxyTo(port: number): Proxy {
  const p = new Proxy(port);
  proxies.push(p);
  return p;
}
before(async () => {
  srv = await startServer();
});
after(async () => {
  closeAll();
  for (const p of proxies) await p.close();
  await srv.stop();
  removeDir(srv.dataDir);
});

test("a chess game resumes after the socket drops; missed events replay in room_seq order", async () => {
  const proxy = proxyTo(srv.port);
  const viaProxy = await proxy.listen();
  const a = await session(await guest(viaProxy));
  const b = await session(await guest(srv.url));
  const j = await a.s.createRoom({ type: "create_room", kind: "chess", name: "resume" });
  await b.s.joinRoom(j.room);
  await until(() => a.events.some((e) => e.ev.type === "game_started"), 3000, "game_started");
  await a.s.move("e2e4");
  await until(() => b.events.some((e) => e.ev.type === "move"), 3000, "b sees e4");

  proxy.blocked = true;
  proxy.cut();
  await until(() => a.states.includes("disconnected"), 3000, "a disconnected");
  await until(() => b.events.some((e) => e.ev.type === "player_disconnected"), 3000, "b hears of it");
  await b.s.move("e7e5");
  await b.s.request({ type: "offer_draw" });
  const bLast = b.s.lastSeq;
  assert.ok(a.s.lastSeq < bLast);

  proxy.blocked = false;
  await until(() => a.states.includes("reconnected"), 8000, "a reconnected");
  await until(() => a.s.lastSeq >= bLast, 3000, "a caught up");
  const replayed = a.events.filter((e) => e.replayed).map((e) => e.ev);
  assert.deepEqual(
    replayed.map((e) => e.type),
    ["player_disconnected", "move", "draw_offered"],
  );
  const seqs = replayed.map((e) => e.room_seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal((replayed[1] as MoveEvent).san, "e5");
  // No event applied twice.
  const all = a.events.map((e) => e.ev.room_seq);
  assert.equal(new Set(all).size, all.length, JSON.stringify(a.events));
  // The replayed events come before the live ones that follow the resumption.
  const firstLive = a.events.findIndex((e) => e.ev.type === "player_reconnected");
  assert.ok(firstLive > a.events.findIndex((e) => e.replayed), "player_reconnected after the replay");
  // The seat is back: A answers the draw offer and plays on.
  await a.s.request({ type: "decline_draw" });
  await a.s.move("Qh5");
  await until(() => b.events.some((e) => e.ev.type === "move" && (e.ev as MoveEvent).san === "Qh5"), 3000, "b sees Qh5");
  await until(() => a.s.lastSeq === b.s.lastSeq, 3000, `same watermark: a ${a.s.lastSeq} ${JSON.stringify(a.events.map((e) => [e.ev.room_seq, e.ev.type]))} b ${b.s.lastSeq} ${JSON.stringify(b.events.map((e) => [e.ev.room_seq, e.ev.type]))}`);
  a.s.close();
  b.s.close();
  await proxy.close();
});

test("more missed events than the room log holds: the full state is taken (missed_complete false)", async () => {
  const proxy = proxyTo(srv.port);
  const viaProxy = await proxy.listen();
  const owner = await session(await guest(srv.url));
  const p = await session(await guest(viaProxy));
  const syncs: { reason: string; seq: number; phase: string }[] = [];
  p.s.on("sync", (x) => syncs.push({ reason: x.reason, seq: x.state.room_seq, phase: isPartyRoom(x.state) ? x.state.game.phase : "" }));
  const j = await owner.s.createRoom({ type: "create_room", kind: "party", name: "many", settings: { slots: 2, turn_secs: 600 } });
  await owner.s.request({ type: "claim_slot", slot: 0 });
  await p.s.joinRoom(j.room);
  const claim = await p.s.request({ type: "claim_slot", slot: 1 });
  assert.ok(claim.reconnect_token);
  await owner.s.request({ type: "start" });
  await until(() => p.events.some((e) => e.ev.type === "party" && e.ev.action === "start"), 3000, "start seen");

  proxy.blocked = true;
  proxy.cut();
  await until(() => p.states.includes("disconnected"), 3000, "disconnected");
  for (let i = 0; i < 70; i++) {
    await owner.s.request({ type: "pause" });
    await owner.s.request({ type: "resume" });
  }
  await owner.s.request({ type: "pause" });
  const last = owner.s.lastSeq;
  const before = p.events.length;
  proxy.blocked = false;
  await until(() => p.states.includes("reconnected"), 8000, "reconnected");
  const resync = syncs.find((s) => s.reason === "resync");
  assert.ok(resync, `a resync: ${JSON.stringify(syncs)}`);
  assert.equal(resync.phase, "paused");
  assert.ok(resync.seq >= last);
  await until(() => p.s.lastSeq === owner.s.lastSeq, 3000, "same watermark as the owner");
  assert.equal(p.events.slice(before).filter((e) => e.replayed).length, 0, "a partial log is not replayed");
  // Still seated: the player's slot is its own after the resync.
  assert.equal(p.s.seatInfo?.seat, 1);
  owner.s.close();
  p.s.close();
  await proxy.close();
});

test("relay rooms deliver text and binary to the other members", async () => {
  const c1 = await guest(srv.url);
  const c2 = await guest(srv.url);
  const r1 = c1.relay("js-relay-test");
  const r2 = c2.relay("js-relay-test");
  await r1.connect();
  await r2.connect();
  const got: (string | Uint8Array)[] = [];
  r2.on("message", (m) => got.push(m));
  const echoed: unknown[] = [];
  r1.on("message", (m) => echoed.push(m));
  assert.ok(r1.send("hello"));
  assert.ok(r1.send(new Uint8Array([1, 2, 255])));
  await until(() => got.length === 2, 3000, "relayed");
  assert.equal(got[0], "hello");
  assert.deepEqual([...(got[1] as Uint8Array)], [1, 2, 255]);
  assert.equal(echoed.length, 0, "a sender does not get its own message");
  r1.close();
  assert.equal(r1.send("late"), false);
  r2.close();
});

test("play now: two queued players get match_found and sit in the matched room", async () => {
  const a = await session(await guest(srv.url));
  const b = await session(await guest(srv.url));
  const found: string[] = [];
  a.s.on("match_found", (m) => found.push(m.room));
  b.s.on("match_found", (m) => found.push(m.room));
  const qa = await a.s.request({ type: "queue", mode: "chess", region: "js-mm" });
  assert.equal(qa.mode, "chess");
  await b.s.request({ type: "queue", mode: "chess", region: "js-mm" });
  await until(() => found.length === 2, 5000, "match_found");
  assert.equal(found[0], found[1]);
  const ja = await a.s.joinRoom(found[0] as string);
  const jb = await b.s.joinRoom(found[0] as string);
  assert.deepEqual([ja.seat, jb.seat].sort(), [0, 1]);
  await until(() => a.events.some((e: { ev: RoomEventMessage }) => e.ev.type === "game_started"), 3000, "started");
  a.s.close();
  b.s.close();
});
