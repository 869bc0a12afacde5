// A session of the typed game protocol (`GET /ws`, docs/games.md): requests answered by `seq`,
// handlers per server message type, and resumption. After a dropped socket it reconnects with
// backoff, says `hello` again and takes its seat back with the reconnect token and the last
// `room_seq` it applied (`reconnect`); the missed events are replayed in `room_seq` order (each
// once), and when the server says `missed_complete: false` a `sync` hands over the full state.
// A spectator joins its room again. The seat (room, token, last seq) is kept in the store so a
// reloaded page resumes too.

import { Emitter, type Handler } from "./emitter.js";
import { ClosedError, ProtocolError, TimeoutError } from "./errors.js";
import type {
  AnswerOf,
  ClientMessage,
  CreateRoomMsg,
  JoinedMsg,
  ReconnectedMsg,
  RoomEventMessage,
  RoomState,
  ServerMessage,
  WelcomeMsg,
} from "./protocol.js";
import { ROOM_EVENT_TYPES } from "./protocol.js";
import { FatalError, ManagedSocket, type SocketOptions } from "./socket.js";
import type { JsonStore } from "./storage.js";

/** Why a `sync` (a full room state to take as is) was emitted. */
export type SyncReason = "joined" | "rejoined" | "resync" | "state";
export interface Sync {
  reason: SyncReason;
  state: RoomState;
}

/** Handlers by server message type, plus `message` (every message) and `sync`. */
export type SessionEvents = { [K in ServerMessage["type"]]: Extract<ServerMessage, { type: K }> } & {
  message: ServerMessage;
  sync: Sync;
  reconnected: ReconnectedMsg;
};

/** The seat the session holds (persisted for resumption). */
export interface SeatRecord {
  room: string;
  role: "player" | "spectator";
  seat: number | null;
  token: string | null;
  lastSeq: number;
}

export interface GameSessionOptions extends SocketOptions {
  /** WebSocket URL of `/ws` for the next attempt. */
  url: () => string;
  /** The account token for `hello`. */
  token: () => string | null;
  store: JsonStore;
  /** Answer time-out of `request` (ms). Default 10000. */
  requestTimeoutMs?: number;
  /** Send a `ping` after this long without any message, and drop the socket when no `pong`
   * comes within `requestTimeoutMs` (0 = off). Default 20000. */
  keepaliveMs?: number;
}

type Pending = {
  type: ClientMessage["type"];
  /** A spectator's `join_room` of the handshake (its `sync` says `rejoined`). */
  rejoin: boolean;
  resolve: (v: ServerMessage) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
};


const SEAT_KEY = "seat";

export class GameSession extends ManagedSocket {
  readonly events = new Emitter<SessionEvents>();
  /** The `welcome` of the current connection. */
  welcome: WelcomeMsg | null = null;
  private seat: SeatRecord | null;
  /** Events applied above `seat.lastSeq` (they can arrive out of order: a move's number is
   * taken before its snapshot commits). */
  private seen = new Set<number>();
  private nextSeq = 1;
  private pending = new Map<number, Pending>();
  private waiting = new Set<{ go: () => void; stop: (e: unknown) => void }>();
  private shutdownUrl: string | null = null;
  private keepalive: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: GameSessionOptions) {
    super(o);
    this.seat = o.store.get<SeatRecord>(SEAT_KEY);
    this.onState((s) => {
      if (s.state === "connected" || s.state === "reconnected") {
        for (const w of [...this.waiting]) w.go();
      }
      if (s.state === "closed") {
        for (const w of [...this.waiting]) w.stop(new ClosedError(s.reason ?? "closed"));
      }
    });
  }

  /** Connect (and resume a stored seat); resolves with the `welcome`. */
  async connect(): Promise<WelcomeMsg> {
    await this.start();
    return this.welcome as WelcomeMsg;
  }

  /** The room the session is in, its seat, reconnect token and last applied `room_seq`. */
  get seatInfo(): Readonly<SeatRecord> | null {
    return this.seat;
  }
  /** Highest `room_seq` up to which every event was applied (sent as `last_seq`). */
  get lastSeq(): number {
    return this.seat?.lastSeq ?? 0;
  }

  on<K extends keyof SessionEvents>(type: K, fn: Handler<SessionEvents[K]>): () => void {
    return this.events.on(type, fn);
  }

  /** Send `msg` with a fresh `seq`; resolves with its answer, rejects with a `ProtocolError`
   * (an `error` answer), a `TimeoutError` or a `ClosedError`. Waits for the connection (and
   * its resumption) first, within the same time-out. */
  request<K extends ClientMessage["type"]>(
    msg: ClientMessage & { type: K },
    o: { timeoutMs?: number } = {},
  ): Promise<AnswerOf[K]> {
    const timeoutMs = o.timeoutMs ?? this.o.requestTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    return this.whenReady(timeoutMs).then(
      () => this.send(msg, Math.max(1, deadline - Date.now())) as Promise<AnswerOf[K]>,
    );
  }

  // Conveniences over `request`.
  listRooms(kind?: "chess" | "party") {
    return this.request(kind ? { type: "list_rooms", kind } : { type: "list_rooms" });
  }
  createRoom(m: CreateRoomMsg) {
    return this.request<"create_room">(m);
  }
  joinRoom(room: string, role: "player" | "spectator" = "player") {
    return this.request({ type: "join_room", room, role });
  }
  /** Leave the room; the stored seat is forgotten once the server said `ok`. */
  leaveRoom() {
    return this.request({ type: "leave_room" });
  }
  move(move: string) {
    return this.request({ type: "move", move });
  }

  private whenReady(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError("session is closed"));
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        go: () => {
          clearTimeout(t);
          this.waiting.delete(w);
          resolve();
        },
        stop: (e: unknown) => {
          clearTimeout(t);
          this.waiting.delete(w);
          reject(e);
        },
      };
      const t = setTimeout(() => w.stop(new TimeoutError(`not connected within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.add(w);
    });
  }

  private send(msg: ClientMessage, timeoutMs: number, rejoin = false): Promise<ServerMessage> {
    const seq = this.nextSeq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new TimeoutError(`no answer to ${msg.type} (seq ${seq}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { type: msg.type, rejoin, resolve, reject, timer });
      if (!this.sendRaw(JSON.stringify({ ...msg, seq }))) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(new ClosedError("not connected"));
      }
    });
  }

  protected url(): string {
    return this.shutdownUrl ?? this.o.url();
  }

  protected async handshake(): Promise<void> {
    const token = this.o.token();
    if (!token) throw new FatalError(new ProtocolError("unauthenticated", "no token: sign in first"));
    const t = this.o.requestTimeoutMs ?? 10_000;
    try {
      this.welcome = (await this.send({ type: "hello", token }, t)) as WelcomeMsg;
    } catch (err) {
      if (err instanceof ProtocolError) throw new FatalError(err);
      throw err;
    }
    this.armKeepalive();
    const seat = this.seat;
    if (!seat) return;
    if (seat.token) {
      try {
        // Applied as it arrives (onData), before the events that follow it.
        await this.send({ type: "reconnect", token: seat.token, last_seq: seat.lastSeq }, t);
        return;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        // The seat is gone (grace over, token used): watch the room instead, if it still is.
      }
    }
    try {
      await this.send({ type: "join_room", room: seat.room, role: "spectator" }, t, true);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.setSeat(null);
    }
  }

  protected onData(data: string | Uint8Array): void {
    this.armKeepalive();
    if (typeof data !== "string") return;
    let m: ServerMessage;
    try {
      m = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    if (!m || typeof m !== "object" || typeof (m as { type?: unknown }).type !== "string") return;
    const seq = (m as { seq?: unknown }).seq;
    const p = typeof seq === "number" ? this.pending.get(seq) : undefined;
    if (p && typeof seq === "number") {
      this.pending.delete(seq);
      clearTimeout(p.timer);
      // Answers that change the seat are applied before the next message is looked at.
      if (m.type === "joined") this.applyJoined(m, p.rejoin ? "rejoined" : "joined");
      else if (m.type === "reconnected") this.applyReconnected(m);
      else if (m.type === "room_state") this.sync("state", m);
      else if (m.type === "ok" && m.reconnect_token && this.seat) {
        this.setSeat({ ...this.seat, role: "player", seat: m.seat ?? null, token: m.reconnect_token });
      } else if (m.type === "ok" && p.type === "leave_room") this.setSeat(null);
      this.dispatch(m);
      if (m.type === "error") p.reject(new ProtocolError(m.code, m.message, seq));
      else p.resolve(m);
      return;
    }
    if (m.type === "server_shutdown") {
      if (m.reconnect_url) this.shutdownUrl = toWsUrl(m.reconnect_url);
      this.dispatch(m);
      return;
    }
    if ((ROOM_EVENT_TYPES as readonly string[]).includes(m.type)) {
      this.applyEvent(m as RoomEventMessage, false);
      return;
    }
    this.dispatch(m);
  }

  override close(): void {
    if (this.keepalive !== undefined) clearTimeout(this.keepalive);
    this.keepalive = undefined;
    super.close();
  }

  protected override onGone(_code: number, reason: string): void {
    if (this.keepalive !== undefined) clearTimeout(this.keepalive);
    this.keepalive = undefined;
    const err = new ClosedError(`connection lost before the answer (${reason || "closed"})`);
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(seq);
      p.reject(err);
    }
  }

  protected override shouldReconnect(code: number): boolean {
    // 4000: another connection of this account took the seat over (docs/games.md); going
    // back would take it from that one in turn.
    return code !== 4000;
  }

  private armKeepalive(): void {
    const every = this.o.keepaliveMs ?? 20_000;
    if (every <= 0) return;
    if (this.keepalive !== undefined) clearTimeout(this.keepalive);
    this.keepalive = setTimeout(() => {
      this.keepalive = undefined;
      if (!this.ready) return;
      this.send({ type: "ping" }, this.o.requestTimeoutMs ?? 10_000).catch((err) => {
        if (err instanceof TimeoutError) this.drop(4001, "no pong");
      });
    }, every);
  }

  private dispatch(m: ServerMessage, replayed = false): void {
    this.events.emit("message", m, { replayed });
    this.events.emit(m.type, m as never, { replayed });
  }

  private setSeat(s: SeatRecord | null): void {
    this.seat = s;
    this.seen.clear();
    if (s) this.o.store.set(SEAT_KEY, s);
    else this.o.store.remove(SEAT_KEY);
  }

  private sync(reason: SyncReason, state: RoomState): void {
    const s = this.seat;
    if (s && s.room === state.room && state.room_seq > s.lastSeq) {
      s.lastSeq = state.room_seq;
      for (const n of [...this.seen]) if (n <= s.lastSeq) this.seen.delete(n);
      this.o.store.set(SEAT_KEY, s);
    }
    this.events.emit("sync", { reason, state });
  }

  private applyJoined(j: JoinedMsg, reason: SyncReason): void {
    this.setSeat({ room: j.room, role: j.role, seat: j.seat, token: j.reconnect_token, lastSeq: j.state.room_seq });
    this.sync(reason, j.state);
  }

  private applyReconnected(r: ReconnectedMsg): void {
    const before = this.seat;
    const sameRoom = before?.room === r.room;
    const seen = sameRoom ? new Set(this.seen) : new Set<number>();
    const last = sameRoom && before ? before.lastSeq : 0;
    const missed = [...r.missed].sort((a, b) => a.room_seq - b.room_seq);
    this.setSeat({ room: r.room, role: "player", seat: r.seat, token: r.reconnect_token, lastSeq: last });
    for (const s of seen) this.seen.add(s);
    if (r.missed_complete) {
      for (const ev of missed) this.applyEvent(ev, true);
    }
    // The state is complete: everything up to its room_seq is in it.
    if (this.seat) {
      this.seat.lastSeq = Math.max(this.seat.lastSeq, r.state.room_seq);
      for (const s of [...this.seen]) if (s <= this.seat.lastSeq) this.seen.delete(s);
      this.o.store.set(SEAT_KEY, this.seat);
    }
    this.events.emit("reconnected", r);
    if (!r.missed_complete) this.sync("resync", r.state);
  }

  /** Apply a room event once, in order of arrival; keep the contiguous watermark. */
  private applyEvent(ev: RoomEventMessage, replayed: boolean): void {
    const s = this.seat;
    if (s && ev.room === s.room) {
      if (ev.room_seq <= s.lastSeq || this.seen.has(ev.room_seq)) return;
      this.seen.add(ev.room_seq);
      while (this.seen.has(s.lastSeq + 1)) {
        this.seen.delete(s.lastSeq + 1);
        s.lastSeq += 1;
      }
      if (ev.type === "seat_freed" && s.seat !== null && ev.seat === s.seat && ev.user_id === this.welcome?.user.id) {
        s.token = null;
        s.seat = null;
        s.role = "spectator";
      }
      this.o.store.set(SEAT_KEY, s);
    }
    this.dispatch(ev, replayed);
  }

  /** Forget the stored seat without telling the server (a new game elsewhere). */
  forgetSeat(): void {
    this.setSeat(null);
  }
}

/** `http(s)://host` -> `ws(s)://host/ws`; a ws(s) URL is kept as is. */
export function toWsUrl(u: string): string {
  if (/^wss?:\/\//i.test(u)) return u;
  const m = /^(https?):\/\/([^/]+)(\/.*)?$/i.exec(u);
  if (!m) return u;
  const scheme = (m[1] as string).toLowerCase() === "https" ? "wss" : "ws";
  const path = m[3] && m[3] !== "/" ? m[3] : "/ws";
  return `${scheme}://${m[2]}${path}`;
}
