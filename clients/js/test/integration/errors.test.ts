// Typed errors from the real server: HTTP `{"error"}` bodies and game-protocol `error` codes.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { Client, HttpError, ProtocolError, memoryStore } from "../../src/index.js";
import { closeAll, guest, NodeWs, session } from "../support/clients.js";
import { removeDir, sleep, startServer, until, type Server } from "../support/server.js";

let srv: Server;
before(async () => {
  srv = await startServer();
});
after(async () => {
  closeAll();
  await srv.stop();
  removeDir(srv.dataDir);
});

async function httpErr(p: Promise<unknown>): Promise<HttpError> {
  const e = await p.then(() => assert.fail("no error"), (x: unknown) => x);
  assert.ok(e instanceof HttpError, String(e));
  return e;
}

test("HTTP errors come back typed with the server's status and message", async () => {
  const c = new Client(srv.url, { WebSocket: NodeWs, storage: memoryStore() });
  let e = await httpErr(c.register("ab", "correct horse"));
  assert.deepEqual([e.status, e.message], [400, "username must be 3 to 24 characters"]);
  e = await httpErr(c.http.postScore("chess", 1));
  assert.equal(e.status, 401);
  await c.guest();
  e = await httpErr(c.http.call("POST", "/api/scores", { game: "flappy", score: -1 }, true));
  assert.deepEqual([e.status, e.message], [400, "score must be between 0 and 1000000000"]);
  e = await httpErr(c.http.leaderboard("chess", { limit: 0 }));
  assert.deepEqual([e.status, e.message], [400, "limit must be between 1 and 100"]);
  e = await httpErr(c.http.getGame("c-nosuchgame"));
  assert.equal(e.status, 404);
  e = await httpErr(c.http.ticket("chess.any.1-x"));
  assert.equal(e.status, 404);
  e = await httpErr(c.http.createTicket({ mode: "tennis" as "chess" }));
  assert.deepEqual([e.status, e.message], [400, "unknown mode `tennis`"]);
  const me = await c.http.me();
  assert.equal(me.id, c.user?.id);
  assert.equal(me.guest, true);
});

test("HTTP matchmaking tickets: create, poll, cancel", async () => {
  const c = await guest(srv.url);
  const t = await c.http.createTicket({ mode: "chess", region: "js-test" });
  assert.equal(t.status, "queued");
  assert.equal((await c.http.ticket(t.ticket)).status, "queued");
  assert.equal((await c.http.cancelTicket(t.ticket)).status, "cancelled");
  const e = await httpErr(c.http.cancelTicket(t.ticket));
  assert.equal(e.status, 404);
});

test("game protocol errors reject with their code; the socket stays usable", async () => {
  const c = await guest(srv.url);
  const { s } = await session(c);
  const code = async (p: Promise<unknown>) => {
    const e = await p.then(() => assert.fail("no error"), (x: unknown) => x);
    assert.ok(e instanceof ProtocolError, String(e));
    return e.code;
  };
  assert.equal(await code(s.joinRoom("c-doesnotexist")), "not_found");
  assert.equal(await code(s.move("e2e4")), "not_in_room");
  assert.equal(await code(s.createRoom({ type: "create_room", kind: "chess", name: "x", settings: { initial_secs: 0 } })), "invalid_settings");
  assert.equal(await code(s.request({ type: "queue", mode: "tennis" as "chess" })), "unknown_mode");
  const j = await s.createRoom({ type: "create_room", kind: "chess", name: "errors" });
  assert.equal(j.seat, 0);
  assert.equal(await code(s.move("e2e4")), "not_started");
  assert.equal(await code(s.request({ type: "claim_slot", slot: 0 })), "wrong_game");
  const pong = await s.request({ type: "ping" });
  assert.equal(pong.type, "pong");
  s.close();
});

test("a bad token is refused at hello and the session closes", async () => {
  const c = new Client(srv.url, { WebSocket: NodeWs, storage: memoryStore() });
  c.store.set("auth", { token: "rc1.forged", expiresAt: 4102444800, user: { id: 1, username: "x", guest: true } });
  const s = c.game({ keepaliveMs: 0 });
  const e = await s.connect().then(() => assert.fail("connected"), (x: unknown) => x);
  assert.ok(e instanceof ProtocolError && e.code === "unauthenticated", String(e));
  assert.equal(s.state, "closed");
});

test("close() while the socket is still connecting ends the session quietly", async () => {
  // A listener that accepts and never answers the upgrade: the socket stays CONNECTING.
  const held: Socket[] = [];
  const hold = createServer((sock) => void held.push(sock));
  await new Promise<void>((r) => hold.listen(0, "127.0.0.1", r));
  const addr = hold.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const c = await guest(srv.url);
  c.setUrl(`http://127.0.0.1:${port}`);
  const s = c.game({ keepaliveMs: 0 });
  const done = s.connect().then(
    () => "connected",
    (e: unknown) => (e as Error).name,
  );
  await until(() => held.length > 0, 3000, "connection accepted");
  s.close();
  assert.equal(await done, "ClosedError");
  // The `ws` package reports the aborted handshake on the next tick: nothing may throw.
  await sleep(100);
  for (const x of held) x.destroy();
  await new Promise<void>((r) => hold.close(() => r()));
});
