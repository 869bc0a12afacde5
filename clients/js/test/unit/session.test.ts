// Unit tests of the game session against a fake socket: seq matching, typed errors,
// time-outs, event order and dedup, resumption with the watermark, resync, shutdown, close.

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { Client, ClosedError, ProtocolError, TimeoutError, memoryStore, type RoomEventMessage, type StateChange } from "../../src/index.js";
import { FakeWs } from "../support/fake-ws.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const fetch = async () =>
  new Response(JSON.stringify({ token: "T", token_type: "Bearer", expires_at: 4102444800, user: { id: 7, username: "g", guest: true } }), {
    status: 201,
  });
const chessState = (room_seq: number) => ({
  room: "c-1",
  name: "r",
  kind: "chess",
  mode: null,
  room_seq,
  seats: [],
  members: 1,
  game: { fen: "x", moves: [], uci: [], turn: "white", clocks: { white: 1, black: 1 }, increment_ms: 0, started: false, draw_offer: null, result: null, reason: null },
});

async function connected(store = memoryStore(), timeoutMs = 300) {
  const c = new Client("http://h:1", {
    fetch,
    storage: store,
    WebSocket: FakeWs,
    timeoutMs,
    backoff: { initialMs: 10, maxMs: 40, jitter: 0 },
    keepaliveMs: 0,
  });
  await c.guest();
  const s = c.game();
  const states: StateChange[] = [];
  s.onState((x) => states.push(x));
  const p = s.connect();
  await tick(5);
  const ws = FakeWs.latest;
  assert.equal(ws.url, "ws://h:1/ws");
  const hello = ws.last("hello");
  assert.equal(hello["token"], "T");
  ws.push({ type: "welcome", seq: hello["seq"], user: { id: 7, name: "g" }, shard: 0 });
  await p;
  return { c, s, ws, states, store };
}

async function joined(x: Awaited<ReturnType<typeof connected>>, room_seq = 3) {
  const j = x.s.joinRoom("c-1");
  await tick();
  const m = x.ws.last("join_room");
  x.ws.push({ type: "joined", seq: m["seq"], room: "c-1", role: "player", seat: 0, reconnect_token: "c-1.aa", state: chessState(room_seq) });
  return j;
}

beforeEach(() => FakeWs.reset());

test("answers are matched by seq; an error answer rejects with its code", async () => {
  const { s, ws } = await connected();
  const a = s.request({ type: "list_rooms" });
  const b = s.move("e2e5");
  await tick();
  const la = ws.last("list_rooms");
  const lb = ws.last("move");
  assert.notEqual(la["seq"], lb["seq"]);
  ws.push({ type: "error", code: "illegal_move", message: "illegal move in this position", seq: lb["seq"] });
  ws.push({ type: "rooms", seq: la["seq"], rooms: [] });
  assert.deepEqual((await a).rooms, []);
  const err = await b.then(() => assert.fail("resolved"), (e: unknown) => e);
  assert.ok(err instanceof ProtocolError);
  assert.equal(err.code, "illegal_move");
  assert.equal(err.seq, lb["seq"]);
  s.close();
});

test("a request without an answer times out", async () => {
  const { s } = await connected();
  await assert.rejects(s.request({ type: "state" }, { timeoutMs: 30 }), TimeoutError);
  s.close();
});

test("events apply once, out-of-order numbers included, and the watermark is contiguous", async () => {
  const x = await connected();
  const seen: number[] = [];
  x.s.on("message", (m) => {
    if ("room_seq" in m && m.type !== "room_state") seen.push((m as RoomEventMessage).room_seq);
  });
  await joined(x, 3);
  assert.equal(x.s.lastSeq, 3);
  const ev = (n: number) => ({ type: "draw_offered", room: "c-1", room_seq: n, by: "white" });
  x.ws.push(ev(3)); // already in the joined state
  x.ws.push(ev(5)); // 4 (a move waiting for its commit) comes later
  assert.equal(x.s.lastSeq, 3);
  x.ws.push(ev(4));
  x.ws.push(ev(5)); // duplicate
  x.ws.push(ev(6));
  assert.deepEqual(seen, [5, 4, 6]);
  assert.equal(x.s.lastSeq, 6);
  x.s.close();
});

test("a dropped socket resumes with the reconnect token and the watermark; missed events replay in order", async () => {
  const x = await connected();
  await joined(x, 3);
  x.ws.push({ type: "player_joined", room: "c-1", room_seq: 4, user_id: 8, name: "b", seat: 1, role: "player" });
  x.ws.push({ type: "move", room: "c-1", room_seq: 6, by: "white", uci: "e2e4", san: "e4", fen: "f", ply: 1, clocks: { white: 1, black: 1 } });
  const pending = x.s.request({ type: "state" });
  await tick();
  x.ws.drop(1006);
  await assert.rejects(pending, ClosedError);
  assert.equal(x.states[x.states.length - 1]?.state, "disconnected");
  await tick(30);
  const ws2 = FakeWs.latest;
  assert.notEqual(ws2, x.ws);
  ws2.push({ type: "welcome", seq: ws2.last("hello")["seq"], user: { id: 7, name: "g" }, shard: 1 });
  await tick();
  const rc = ws2.last("reconnect");
  assert.equal(rc["token"], "c-1.aa");
  assert.equal(rc["last_seq"], 4, "5 never arrived: resume after 4");
  const replayed: [number, boolean][] = [];
  x.s.on("message", (m, meta) => {
    if ("room_seq" in m && m.type !== "room_state") replayed.push([(m as RoomEventMessage).room_seq, meta.replayed]);
  });
  let syncs = 0;
  x.s.on("sync", () => syncs++);
  const mv = (n: number) => ({ type: "draw_declined", room: "c-1", room_seq: n, by: "black" });
  ws2.push({
    type: "reconnected",
    seq: rc["seq"],
    room: "c-1",
    seat: 0,
    reconnect_token: "c-1.bb",
    state: chessState(8),
    missed: [mv(7), mv(5), { type: "move", room: "c-1", room_seq: 6, by: "white", uci: "e2e4", san: "e4", fen: "f", ply: 1, clocks: { white: 1, black: 1 } }, mv(8)],
    missed_complete: true,
  });
  await tick();
  assert.deepEqual(replayed, [[5, true], [7, true], [8, true]], "in order, 6 not twice");
  assert.equal(syncs, 0);
  assert.equal(x.s.lastSeq, 8);
  assert.equal(x.s.seatInfo?.token, "c-1.bb");
  assert.equal(x.states[x.states.length - 1]?.state, "reconnected");
  // The seat is in the store: a new session (a reloaded page) resumes it.
  assert.equal(JSON.parse(x.store.getItem("roomcore:seat") as string).token, "c-1.bb");
  x.s.close();
});

test("missed_complete false hands over the full state", async () => {
  const x = await connected();
  await joined(x, 3);
  x.ws.drop(1006);
  await tick(30);
  const ws2 = FakeWs.latest;
  ws2.push({ type: "welcome", seq: ws2.last("hello")["seq"], user: { id: 7, name: "g" }, shard: 1 });
  await tick();
  const syncs: string[] = [];
  x.s.on("sync", (s) => syncs.push(`${s.reason}:${s.state.room_seq}`));
  const replayed: number[] = [];
  x.s.on("draw_offered", (e) => replayed.push(e.room_seq));
  ws2.push({
    type: "reconnected",
    seq: ws2.last("reconnect")["seq"],
    room: "c-1",
    seat: 0,
    reconnect_token: "c-1.cc",
    state: chessState(300),
    missed: [{ type: "draw_offered", room: "c-1", room_seq: 299, by: "white" }],
    missed_complete: false,
  });
  await tick();
  assert.deepEqual(syncs, ["resync:300"]);
  assert.deepEqual(replayed, []);
  assert.equal(x.s.lastSeq, 300);
  x.s.close();
});

test("server_shutdown: reconnect to the reconnect_url offered", async () => {
  const x = await connected();
  x.ws.push({ type: "server_shutdown", reason: "server is shutting down", reconnect_url: "ws://node-2:9/ws" });
  x.ws.drop(1001, "");
  await tick(30);
  assert.equal(FakeWs.latest.url, "ws://node-2:9/ws");
  x.s.close();
});

test("close() stops the backoff: no attempt after it", async () => {
  const x = await connected();
  FakeWs.refuse = true;
  x.ws.drop(1006);
  await tick(60);
  const attempts = FakeWs.all.length;
  assert.ok(attempts >= 2, `retries while refused (${attempts})`);
  x.s.close();
  assert.equal(x.states[x.states.length - 1]?.state, "closed");
  await tick(150);
  assert.equal(FakeWs.all.length, attempts);
  await assert.rejects(x.s.request({ type: "ping" }), ClosedError);
});

test("a seat taken over by another connection (4000) closes without reconnecting", async () => {
  const x = await connected();
  x.ws.drop(4000, "reconnected elsewhere");
  await tick(60);
  assert.equal(FakeWs.all.length, 1);
  assert.equal(x.s.state, "closed");
});

test("a refused token closes the session with the protocol error", async () => {
  const c = new Client("http://h:1", { fetch, storage: memoryStore(), WebSocket: FakeWs, keepaliveMs: 0 });
  await c.guest();
  const s = c.game();
  const p = s.connect();
  await tick(5);
  const ws = FakeWs.latest;
  ws.push({ type: "error", code: "unauthenticated", message: "token refused", seq: ws.last("hello")["seq"] });
  const err = await p.then(() => assert.fail("connected"), (e: unknown) => e);
  assert.ok(err instanceof ProtocolError && err.code === "unauthenticated");
  assert.equal(s.state, "closed");
});
