// A server restart in the middle of a chess game: SIGTERM (every socket gets server_shutdown,
// then 1001; the room is snapshotted at the end of the drain), a restart on the same address
// and data directory, and both players resume on their own (backoff, hello with the same
// token, reconnect with the seat token restored from the snapshot). A session closed while
// the server is down stops trying.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { ChessRoomState, MoveEvent } from "../../src/index.js";
import { closeAll, guest, session } from "../support/clients.js";
import { freePort, removeDir, sleep, startServer, tempDir, until, type Server } from "../support/server.js";

let srv: Server | null = null;
const dataDir = tempDir("restart");
after(async () => {
  closeAll();
  await srv?.stop();
  removeDir(dataDir);
});

test("a chess game resumes after a server restart, restored from its snapshot", async () => {
  const port = await freePort();
  srv = await startServer({ dataDir, port });
  const a = await session(await guest(srv.url));
  const b = await session(await guest(srv.url));
  const shutdowns: string[] = [];
  a.s.on("server_shutdown", (m) => shutdowns.push(m.type));
  const j = await a.s.createRoom({ type: "create_room", kind: "chess", name: "restart" });
  await b.s.joinRoom(j.room);
  await until(() => a.events.some((e) => e.ev.type === "game_started"), 3000, "started");
  await a.s.move("e4");
  await b.s.move("e5");
  // A third session that will be closed while the server is away.
  const c = await session(await guest(srv.url));
  const seqBefore = a.s.lastSeq;

  assert.equal(await srv.stop("SIGTERM"), 0);
  srv = null;
  await until(() => a.states.includes("disconnected") && b.states.includes("disconnected") && c.states.includes("disconnected"), 5000, "all disconnected");
  assert.deepEqual(shutdowns, ["server_shutdown"]);
  // While the server is down, the sessions keep trying with backoff.
  const tries = () => c.states.filter((s) => s === "connecting").length;
  const t0 = tries();
  await until(() => tries() >= t0 + 2, 5000, "retries with backoff");
  c.s.close();
  assert.equal(c.s.state, "closed");
  const afterClose = c.states.length;

  srv = await startServer({ dataDir, port });
  await until(() => a.states.includes("reconnected") && b.states.includes("reconnected"), 10_000, "both reconnected");
  const st = (await a.s.request({ type: "state" })) as { type: "room_state" } & ChessRoomState;
  assert.equal(st.room, j.room);
  assert.deepEqual(st.game.moves, ["e4", "e5"]);
  assert.ok(a.s.lastSeq >= seqBefore);
  assert.equal(a.s.seatInfo?.seat, 0);
  assert.equal(b.s.seatInfo?.seat, 1);
  await a.s.move("Nf3");
  await until(() => b.events.some((e) => e.ev.type === "move" && (e.ev as MoveEvent).san === "Nf3"), 3000, "b sees Nf3");
  // The closed session never came back.
  await sleep(600);
  assert.equal(c.states.length, afterClose, `no attempt after close(): ${c.states.slice(afterClose).join(",")}`);
});
