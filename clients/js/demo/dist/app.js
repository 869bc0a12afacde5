// src/emitter.ts
var Emitter = class {
  handlers = /* @__PURE__ */ new Map();
  /** Errors thrown by handlers land here (never in the library's own code paths). */
  onHandlerError = (err) => {
    setTimeout(() => {
      throw err;
    });
  };
  /** Register `fn` for `type`; returns a function that unregisters it. */
  on(type, fn) {
    let set = this.handlers.get(type);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.handlers.set(type, set);
    }
    set.add(fn);
    return () => this.off(type, fn);
  }
  /** Like `on`, for one call only. */
  once(type, fn) {
    const off = this.on(type, (v, m) => {
      off();
      fn(v, m);
    });
    return off;
  }
  off(type, fn) {
    this.handlers.get(type)?.delete(fn);
  }
  emit(type, value, meta = { replayed: false }) {
    const set = this.handlers.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(value, meta);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }
};

// src/errors.ts
var RoomcoreError = class extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
};
var HttpError = class extends RoomcoreError {
  /** HTTP status code. */
  status;
  /** Seconds to wait before retrying (`Retry-After`), when the server sent one. */
  retryAfter;
  /** `X-Request-Id` of the answer (for support and logs). */
  requestId;
  constructor(status, message, retryAfter, requestId) {
    super(message);
    this.status = status;
    if (retryAfter !== void 0) this.retryAfter = retryAfter;
    if (requestId !== void 0) this.requestId = requestId;
  }
};
var ProtocolError = class extends RoomcoreError {
  code;
  seq;
  constructor(code, message, seq = null) {
    super(message);
    this.code = code;
    this.seq = seq;
  }
};
var TimeoutError = class extends RoomcoreError {
};
var ClosedError = class extends RoomcoreError {
};
function parseRetryAfter(v, now = Date.now()) {
  if (v == null || v.trim() === "") return void 0;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const at = Date.parse(t);
  if (Number.isNaN(at)) return void 0;
  return Math.max(0, Math.ceil((at - now) / 1e3));
}

// src/protocol.ts
function isChessRoom(s) {
  return s.kind === "chess";
}
function isPartyRoom(s) {
  return s.kind === "party";
}
var ROOM_EVENTS = [
  "player_joined",
  "player_left",
  "player_disconnected",
  "player_reconnected",
  "seat_freed",
  "game_started",
  "move",
  "draw_offered",
  "draw_declined",
  "game_over",
  "party"
];
var ROOM_EVENT_TYPES = ROOM_EVENTS;

// src/backoff.ts
function backoffDelay(attempt, o = {}, random = Math.random) {
  const initial = o.initialMs ?? 250;
  const max = o.maxMs ?? 1e4;
  const factor = o.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(base * (1 - jitter * random()));
}

// src/socket.ts
var FatalError = class extends Error {
  reason;
  constructor(reason) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.reason = reason;
  }
};
var ManagedSocket = class {
  constructor(sockOpts) {
    this.sockOpts = sockOpts;
  }
  sockOpts;
  stateEvents = new Emitter();
  ws = null;
  timer;
  attempts = 0;
  everReady = false;
  closedForGood = false;
  live = false;
  first = null;
  current = "idle";
  /** The current state. */
  get state() {
    return this.current;
  }
  /** Open and past the handshake. */
  get ready() {
    return this.live;
  }
  /** `close()` was called (or a fatal error closed it). */
  get closed() {
    return this.closedForGood;
  }
  /** Register for state changes; returns the function that unregisters. */
  onState(fn) {
    return this.stateEvents.on("state", (s) => fn(s));
  }
  /** Start connecting; resolves once the first handshake is done. A failed attempt is
   * retried with backoff; rejects on a fatal error or `close()`. */
  start() {
    if (this.closedForGood) return Promise.reject(new ClosedError("closed"));
    const p = new Promise((resolve, reject) => {
      this.first = { resolve, reject };
    });
    if (this.current === "idle") this.open();
    return p;
  }
  /** The socket is gone (before a reconnect is scheduled). */
  onGone(_code, _reason) {
  }
  /** Whether to reconnect after the socket closed with `code`. */
  shouldReconnect(_code, _reason) {
    return true;
  }
  /** Send on the current socket; false when there is none open. */
  sendRaw(data) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(data);
    return true;
  }
  setState(s) {
    this.current = s.state;
    this.stateEvents.emit("state", { attempt: this.attempts, ...s });
  }
  open() {
    this.timer = void 0;
    if (this.closedForGood) return;
    this.setState({ state: "connecting" });
    let ws;
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
        }
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
    };
  }
  /** Give up on the current socket (a dead peer, a failed handshake) and reconnect. */
  drop(code = 4999, reason = "dropped by client") {
    const ws = this.ws;
    if (!ws) return;
    detach(ws);
    try {
      ws.close(1e3);
    } catch {
    }
    this.gone(code, reason);
  }
  gone(code, reason) {
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
  fail(error) {
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    if (ws) {
      detach(ws);
      try {
        ws.close(1e3);
      } catch {
      }
    }
    this.onGone(1e3, "fatal error");
    this.finish({ state: "closed", error }, error);
  }
  finish(s, error) {
    this.closedForGood = true;
    if (this.timer !== void 0) clearTimeout(this.timer);
    this.timer = void 0;
    this.setState(s);
    this.first?.reject(error);
    this.first = null;
  }
  /** Close for good: no more attempts, every pending request fails with `ClosedError`. */
  close() {
    if (this.closedForGood) return;
    const ws = this.ws;
    this.ws = null;
    this.live = false;
    this.closedForGood = true;
    if (this.timer !== void 0) clearTimeout(this.timer);
    this.timer = void 0;
    if (ws) {
      detach(ws);
      try {
        ws.close(1e3);
      } catch {
      }
    }
    this.onGone(1e3, "closed by client");
    this.setState({ state: "closed", code: 1e3, reason: "closed by client" });
    this.first?.reject(new ClosedError("closed by client"));
    this.first = null;
  }
};
function detach(ws) {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => void 0;
}

// src/game.ts
var SEAT_KEY = "seat";
var GameSession = class extends ManagedSocket {
  constructor(o) {
    super(o);
    this.o = o;
    this.seat = o.store.get(SEAT_KEY);
    this.onState((s) => {
      if (s.state === "connected" || s.state === "reconnected") {
        for (const w of [...this.waiting]) w.go();
      }
      if (s.state === "closed") {
        for (const w of [...this.waiting]) w.stop(new ClosedError(s.reason ?? "closed"));
      }
    });
  }
  o;
  events = new Emitter();
  /** The `welcome` of the current connection. */
  welcome = null;
  seat;
  /** Events applied above `seat.lastSeq` (they can arrive out of order: a move's number is
   * taken before its snapshot commits). */
  seen = /* @__PURE__ */ new Set();
  nextSeq = 1;
  pending = /* @__PURE__ */ new Map();
  waiting = /* @__PURE__ */ new Set();
  shutdownUrl = null;
  keepalive;
  /** Connect (and resume a stored seat); resolves with the `welcome`. */
  async connect() {
    await this.start();
    return this.welcome;
  }
  /** The room the session is in, its seat, reconnect token and last applied `room_seq`. */
  get seatInfo() {
    return this.seat;
  }
  /** Highest `room_seq` up to which every event was applied (sent as `last_seq`). */
  get lastSeq() {
    return this.seat?.lastSeq ?? 0;
  }
  on(type, fn) {
    return this.events.on(type, fn);
  }
  /** Send `msg` with a fresh `seq`; resolves with its answer, rejects with a `ProtocolError`
   * (an `error` answer), a `TimeoutError` or a `ClosedError`. Waits for the connection (and
   * its resumption) first, within the same time-out. */
  request(msg, o = {}) {
    const timeoutMs = o.timeoutMs ?? this.o.requestTimeoutMs ?? 1e4;
    const deadline = Date.now() + timeoutMs;
    return this.whenReady(timeoutMs).then(
      () => this.send(msg, Math.max(1, deadline - Date.now()))
    );
  }
  // Conveniences over `request`.
  listRooms(kind) {
    return this.request(kind ? { type: "list_rooms", kind } : { type: "list_rooms" });
  }
  createRoom(m) {
    return this.request(m);
  }
  joinRoom(room, role = "player") {
    return this.request({ type: "join_room", room, role });
  }
  /** Leave the room; the stored seat is forgotten once the server said `ok`. */
  leaveRoom() {
    return this.request({ type: "leave_room" });
  }
  move(move) {
    return this.request({ type: "move", move });
  }
  whenReady(timeoutMs) {
    if (this.closed) return Promise.reject(new ClosedError("session is closed"));
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        go: () => {
          clearTimeout(t);
          this.waiting.delete(w);
          resolve();
        },
        stop: (e) => {
          clearTimeout(t);
          this.waiting.delete(w);
          reject(e);
        }
      };
      const t = setTimeout(() => w.stop(new TimeoutError(`not connected within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.add(w);
    });
  }
  send(msg, timeoutMs, rejoin = false) {
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
  url() {
    return this.shutdownUrl ?? this.o.url();
  }
  async handshake() {
    const token = this.o.token();
    if (!token) throw new FatalError(new ProtocolError("unauthenticated", "no token: sign in first"));
    const t = this.o.requestTimeoutMs ?? 1e4;
    try {
      this.welcome = await this.send({ type: "hello", token }, t);
    } catch (err) {
      if (err instanceof ProtocolError) throw new FatalError(err);
      throw err;
    }
    this.armKeepalive();
    const seat = this.seat;
    if (!seat) return;
    if (seat.token) {
      try {
        await this.send({ type: "reconnect", token: seat.token, last_seq: seat.lastSeq }, t);
        return;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }
    try {
      await this.send({ type: "join_room", room: seat.room, role: "spectator" }, t, true);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.setSeat(null);
    }
  }
  onData(data) {
    this.armKeepalive();
    if (typeof data !== "string") return;
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (!m || typeof m !== "object" || typeof m.type !== "string") return;
    const seq = m.seq;
    const p = typeof seq === "number" ? this.pending.get(seq) : void 0;
    if (p && typeof seq === "number") {
      this.pending.delete(seq);
      clearTimeout(p.timer);
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
    if (ROOM_EVENT_TYPES.includes(m.type)) {
      this.applyEvent(m, false);
      return;
    }
    this.dispatch(m);
  }
  close() {
    if (this.keepalive !== void 0) clearTimeout(this.keepalive);
    this.keepalive = void 0;
    super.close();
  }
  onGone(_code, reason) {
    if (this.keepalive !== void 0) clearTimeout(this.keepalive);
    this.keepalive = void 0;
    const err = new ClosedError(`connection lost before the answer (${reason || "closed"})`);
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(seq);
      p.reject(err);
    }
  }
  shouldReconnect(code) {
    return code !== 4e3;
  }
  armKeepalive() {
    const every = this.o.keepaliveMs ?? 2e4;
    if (every <= 0) return;
    if (this.keepalive !== void 0) clearTimeout(this.keepalive);
    this.keepalive = setTimeout(() => {
      this.keepalive = void 0;
      if (!this.ready) return;
      this.send({ type: "ping" }, this.o.requestTimeoutMs ?? 1e4).catch((err) => {
        if (err instanceof TimeoutError) this.drop(4001, "no pong");
      });
    }, every);
  }
  dispatch(m, replayed = false) {
    this.events.emit("message", m, { replayed });
    this.events.emit(m.type, m, { replayed });
  }
  setSeat(s) {
    this.seat = s;
    this.seen.clear();
    if (s) this.o.store.set(SEAT_KEY, s);
    else this.o.store.remove(SEAT_KEY);
  }
  sync(reason, state) {
    const s = this.seat;
    if (s && s.room === state.room && state.room_seq > s.lastSeq) {
      s.lastSeq = state.room_seq;
      for (const n of [...this.seen]) if (n <= s.lastSeq) this.seen.delete(n);
      this.o.store.set(SEAT_KEY, s);
    }
    this.events.emit("sync", { reason, state });
  }
  applyJoined(j, reason) {
    this.setSeat({ room: j.room, role: j.role, seat: j.seat, token: j.reconnect_token, lastSeq: j.state.room_seq });
    this.sync(reason, j.state);
  }
  applyReconnected(r) {
    const before = this.seat;
    const sameRoom = before?.room === r.room;
    const seen = sameRoom ? new Set(this.seen) : /* @__PURE__ */ new Set();
    const last = sameRoom && before ? before.lastSeq : 0;
    const missed = [...r.missed].sort((a, b) => a.room_seq - b.room_seq);
    this.setSeat({ room: r.room, role: "player", seat: r.seat, token: r.reconnect_token, lastSeq: last });
    for (const s of seen) this.seen.add(s);
    if (r.missed_complete) {
      for (const ev of missed) this.applyEvent(ev, true);
    }
    if (this.seat) {
      this.seat.lastSeq = Math.max(this.seat.lastSeq, r.state.room_seq);
      for (const s of [...this.seen]) if (s <= this.seat.lastSeq) this.seen.delete(s);
      this.o.store.set(SEAT_KEY, this.seat);
    }
    this.events.emit("reconnected", r);
    if (!r.missed_complete) this.sync("resync", r.state);
  }
  /** Apply a room event once, in order of arrival; keep the contiguous watermark. */
  applyEvent(ev, replayed) {
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
  forgetSeat() {
    this.setSeat(null);
  }
};
function toWsUrl(u) {
  if (/^wss?:\/\//i.test(u)) return u;
  const m = /^(https?):\/\/([^/]+)(\/.*)?$/i.exec(u);
  if (!m) return u;
  const scheme = m[1].toLowerCase() === "https" ? "wss" : "ws";
  const path = m[3] && m[3] !== "/" ? m[3] : "/ws";
  return `${scheme}://${m[2]}${path}`;
}

// src/http.ts
var HttpApi = class {
  constructor(o) {
    this.o = o;
  }
  o;
  /** One request; the parsed JSON body, or an `HttpError`. */
  async call(method, path, body, auth = false) {
    const headers = {};
    if (body !== void 0) headers["Content-Type"] = "application/json";
    if (auth) {
      const t = this.o.token();
      if (!t) throw new HttpError(401, "not signed in");
      headers["Authorization"] = `Bearer ${t}`;
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.o.timeoutMs);
    let res;
    try {
      const init = { method, headers, signal: ctl.signal };
      if (body !== void 0) init.body = JSON.stringify(body);
      res = await this.o.fetch(this.o.baseUrl().replace(/\/+$/, "") + path, init);
    } catch (err) {
      clearTimeout(timer);
      const why = ctl.signal.aborted ? `timed out after ${this.o.timeoutMs} ms` : String(err);
      throw new HttpError(0, `${method} ${path}: ${why}`);
    }
    let text;
    try {
      text = await res.text();
    } finally {
      clearTimeout(timer);
    }
    let parsed = void 0;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = void 0;
      }
    }
    if (!res.ok) {
      const msg = parsed && typeof parsed === "object" && typeof parsed.error === "string" ? parsed.error : `HTTP ${res.status}`;
      throw new HttpError(
        res.status,
        msg,
        parseRetryAfter(res.headers.get("Retry-After")),
        res.headers.get("X-Request-Id") ?? void 0
      );
    }
    return parsed;
  }
  guest() {
    return this.call("POST", "/api/auth/guest", {});
  }
  register(username, password) {
    return this.call("POST", "/api/auth/register", { username, password });
  }
  login(username, password) {
    return this.call("POST", "/api/auth/login", { username, password });
  }
  me() {
    return this.call("GET", "/api/auth/me", void 0, true);
  }
  postScore(game, score) {
    return this.call("POST", "/api/scores", { game, score }, true);
  }
  leaderboard(game, o = {}) {
    return this.call("GET", `/api/leaderboard?${query({ game, limit: o.limit, period: o.period })}`);
  }
  myRank(game, o = {}) {
    return this.call("GET", `/api/leaderboard/me?${query({ game, period: o.period })}`, void 0, true);
  }
  /** A finished game (with its PGN) or a running one (`status: "live"`). */
  getGame(id) {
    return this.call("GET", `/api/games/${encodeURIComponent(id)}`);
  }
  createTicket(o) {
    return this.call("POST", "/api/matchmaking/tickets", o, true);
  }
  ticket(id) {
    return this.call("GET", `/api/matchmaking/tickets/${encodeURIComponent(id)}`, void 0, true);
  }
  cancelTicket(id) {
    return this.call("DELETE", `/api/matchmaking/tickets/${encodeURIComponent(id)}`, void 0, true);
  }
};
function query(q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== void 0) p.set(k, String(v));
  return p.toString();
}

// src/relay.ts
var RELAY_ROOM = /^[A-Za-z0-9_.:-]{1,64}$/;
var RelayConnection = class extends ManagedSocket {
  constructor(o) {
    super(o);
    this.o = o;
  }
  o;
  events = new Emitter();
  /** Join; resolves once the room accepted the socket (its 101 answer). */
  connect() {
    return this.start();
  }
  on(type, fn) {
    return this.events.on(type, fn);
  }
  /** Send to the other members; false when not connected (nothing was sent). */
  send(data) {
    return this.ready && this.sendRaw(data);
  }
  url() {
    return this.o.url();
  }
  async handshake() {
  }
  onData(data) {
    this.events.emit("message", data);
  }
};

// src/storage.ts
function memoryStore() {
  const m = /* @__PURE__ */ new Map();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k)
  };
}
function defaultStore() {
  try {
    const ls = globalThis.localStorage;
    if (ls) {
      const probe = "__roomcore_probe__";
      ls.setItem(probe, "1");
      ls.removeItem(probe);
      return ls;
    }
  } catch {
  }
  return memoryStore();
}
var JsonStore = class {
  constructor(store, prefix) {
    this.store = store;
    this.prefix = prefix;
  }
  store;
  prefix;
  get(key) {
    try {
      const v = this.store.getItem(this.prefix + key);
      return v == null ? null : JSON.parse(v);
    } catch {
      return null;
    }
  }
  set(key, value) {
    try {
      this.store.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
    }
  }
  remove(key) {
    try {
      this.store.removeItem(this.prefix + key);
    } catch {
    }
  }
};

// src/client.ts
var AUTH_KEY = "auth";
var Client = class {
  constructor(url, opts = {}) {
    this.opts = opts;
    this.base = url.replace(/\/+$/, "");
    this.store = new JsonStore(opts.storage ?? defaultStore(), opts.storagePrefix ?? "roomcore:");
    this.auth = this.store.get(AUTH_KEY);
    this.WS = opts.WebSocket ?? globalThis.WebSocket;
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new Error("no fetch: pass options.fetch");
    this.http = new HttpApi({
      baseUrl: () => this.base,
      token: () => this.token,
      fetch: (i, init) => f(i, init),
      timeoutMs: opts.timeoutMs ?? 1e4
    });
  }
  opts;
  http;
  store;
  base;
  auth;
  WS;
  /** The server's base URL (`http://host:port`). */
  get url() {
    return this.base;
  }
  /** Point the client (and the next reconnect of its sessions) at another address. */
  setUrl(url) {
    this.base = url.replace(/\/+$/, "");
  }
  /** The account token, if signed in and not expired. */
  get token() {
    return this.auth && this.auth.expiresAt * 1e3 > Date.now() ? this.auth.token : null;
  }
  /** The signed-in account. */
  get user() {
    return this.token ? this.auth.user : null;
  }
  /** Sign in as a guest; a stored, unexpired guest sign-in is reused unless `fresh`. */
  async guest(o = {}) {
    if (!o.fresh && this.auth?.user.guest && this.token && this.auth.expiresAt * 1e3 > Date.now() + 6e4) {
      return this.auth;
    }
    return this.keep(await this.http.guest());
  }
  async register(username, password) {
    return this.keep(await this.http.register(username, password));
  }
  async login(username, password) {
    return this.keep(await this.http.login(username, password));
  }
  /** Use a token obtained elsewhere (checked with `/api/auth/me`). */
  async useToken(token) {
    const me = await new HttpApi({
      baseUrl: () => this.base,
      token: () => token,
      fetch: (i, init) => (this.opts.fetch ?? fetch)(i, init),
      timeoutMs: this.opts.timeoutMs ?? 1e4
    }).me();
    return this.keepSession({ token, expiresAt: me.expires_at, user: { id: me.id, username: me.username, guest: me.guest } });
  }
  /** Forget the sign-in (and the stored seat). */
  signOut() {
    this.auth = null;
    this.store.remove(AUTH_KEY);
    this.store.remove("seat");
  }
  keep(a) {
    return this.keepSession({ token: a.token, expiresAt: a.expires_at, user: a.user });
  }
  keepSession(s) {
    if (this.auth && this.auth.user.id !== s.user.id) this.store.remove("seat");
    this.auth = s;
    this.store.set(AUTH_KEY, s);
    return s;
  }
  /** A game session on `/ws` (not connected yet: call `connect()`). */
  game(o = {}) {
    const WS = this.needWs();
    const opts = {
      WebSocket: WS,
      url: () => toWsUrl(this.base),
      token: () => this.token,
      store: this.store,
      requestTimeoutMs: this.opts.timeoutMs ?? 1e4,
      keepaliveMs: o.keepaliveMs ?? this.opts.keepaliveMs ?? 2e4
    };
    if (this.opts.backoff) opts.backoff = this.opts.backoff;
    return new GameSession(opts);
  }
  /** A connection to relay room `room` (not connected yet: call `connect()`). */
  relay(room) {
    if (!RELAY_ROOM.test(room)) throw new Error("relay room ids are 1 to 64 of A-Z a-z 0-9 _ - . :");
    const WS = this.needWs();
    const opts = {
      WebSocket: WS,
      url: () => toWsUrl(this.base).replace(/\/ws$/, "") + "/ws/relay/" + room
    };
    if (this.opts.backoff) opts.backoff = this.opts.backoff;
    return new RelayConnection(opts);
  }
  needWs() {
    if (!this.WS) throw new Error("no WebSocket: pass options.WebSocket (the `ws` package in Node 20)");
    return this.WS;
  }
};

// demo/src/dom.ts
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === void 0 || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children) {
    if (c === null || c === void 0 || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
}
function button(label, onClick, attrs = {}) {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", onClick);
  return b;
}
function unescapeName(s) {
  if (!s) return "";
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x2F;/g, "/").replace(/&amp;/g, "&");
}
function fmtClock(ms) {
  const t = Math.max(0, ms);
  if (t < 1e4) return `0:0${(t / 1e3).toFixed(1)}`;
  const s = Math.floor(t / 1e3);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor(s % 3600 / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}
function errText(err) {
  if (err && typeof err === "object" && "message" in err) {
    const code = err.code;
    const msg = String(err.message);
    return typeof code === "string" ? `${code}: ${msg}` : msg;
  }
  return String(err);
}

// demo/src/chat.ts
var MAX_LINES = 200;
var ChatPanel = class {
  constructor(client2, room, name) {
    this.name = name;
    const input = h("input", { type: "text", maxlength: 500, placeholder: "Say something", "aria-label": "message", "data-test": "chat-input" });
    const form = h("form", { class: "chat-form" }, input, h("button", { type: "submit", "data-test": "chat-send" }, "Send"));
    const state = h("span", { class: "muted chat-state" }, "connecting…");
    this.relay = client2.relay(`chat-${room}`.slice(0, 64));
    this.relay.onState((s) => {
      state.textContent = s.state === "connected" || s.state === "reconnected" ? "" : s.state === "closed" ? "closed" : "connecting…";
      state.dataset["state"] = s.state;
    });
    this.relay.on("message", (data) => {
      if (typeof data !== "string") return;
      try {
        const m = JSON.parse(data);
        if (typeof m.text === "string") this.line(typeof m.from === "string" ? m.from : "?", m.text, false);
      } catch {
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (this.relay.send(JSON.stringify({ from: this.name, text }))) {
        this.line(this.name, text, true);
        input.value = "";
      } else {
        this.line("", "not connected: message not sent", true);
      }
    });
    this.el = h("div", { class: "chat", "data-test": "chat" }, h("h2", {}, "Chat ", state), this.log, form);
    this.relay.connect().catch(() => void 0);
  }
  name;
  el;
  log = h("ol", { class: "chat-log", "aria-live": "polite", "data-test": "chat-log" });
  relay;
  close() {
    this.relay.close();
  }
  line(from, text, mine) {
    this.log.append(
      h("li", { class: mine ? "mine" : "" }, from ? h("b", {}, unescapeName(from.slice(0, 40)) + ": ") : null, text.slice(0, 500))
    );
    while (this.log.childElementCount > MAX_LINES) this.log.firstElementChild?.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }
};

// demo/src/chess.ts
var GLYPH = { k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
var FILES = "abcdefgh";
function parseFen(fen) {
  const out = /* @__PURE__ */ new Map();
  const rows = (fen.split(" ")[0] ?? "").split("/");
  rows.forEach((row, i) => {
    let file = 0;
    for (const c of row) {
      if (/\d/.test(c)) file += Number(c);
      else {
        out.set(`${FILES[file]}${8 - i}`, c);
        file += 1;
      }
    }
  });
  return out;
}
var ChessView = class {
  constructor(ctx, state) {
    this.ctx = ctx;
    this.room = state.room;
    this.state = state;
    this.game = this.state.game;
    this.el = h(
      "section",
      { class: "card chess", "data-test": "chess-room", "data-room": state.room },
      h("h2", {}, unescapeName(state.name), " ", h("span", { class: "muted room-id" }, state.room)),
      this.clocks.black,
      this.boardEl,
      this.clocks.white,
      this.status,
      this.controls,
      this.endBox,
      h("details", { open: true }, h("summary", {}, "Moves"), this.moves)
    );
    this.boardEl.addEventListener("pointerdown", (e) => this.pointerDown(e));
    this.boardEl.addEventListener("pointermove", (e) => this.pointerMove(e));
    this.boardEl.addEventListener("pointerup", (e) => this.pointerUp(e));
    this.boardEl.addEventListener("pointercancel", () => this.cancelDrag());
    this.ticker = setInterval(() => this.renderClocks(), 200);
    this.setState(state);
  }
  ctx;
  room;
  el;
  state;
  game;
  clockAt = performance.now();
  selected = null;
  drag = null;
  lastMove = null;
  over = null;
  boardEl = h("div", { class: "board", role: "grid", "aria-label": "chess board", "data-test": "board" });
  status = h("p", { class: "status", "data-test": "status" });
  moves = h("ol", { class: "moves", "data-test": "moves" });
  clocks = {
    white: h("div", { class: "clock", "data-test": "clock-white" }),
    black: h("div", { class: "clock", "data-test": "clock-black" })
  };
  controls = h("p", { class: "actions" });
  endBox = h("div", { class: "end", hidden: true, "data-test": "end" });
  promo = h(
    "select",
    { "aria-label": "promote to", "data-test": "promotion" },
    h("option", { value: "q" }, "♛ queen"),
    h("option", { value: "r" }, "♜ rook"),
    h("option", { value: "b" }, "♝ bishop"),
    h("option", { value: "n" }, "♞ knight")
  );
  ticker;
  /** My side, or null for a spectator. */
  get side() {
    const me = this.ctx.session.seatInfo;
    if (!me || me.room !== this.room || me.seat === null) return null;
    return me.seat === 0 ? "white" : "black";
  }
  setState(state) {
    if (!isChessRoom(state)) return;
    this.state = state;
    this.game = state.game;
    this.clockAt = performance.now();
    const uci = state.game.uci;
    this.lastMove = uci.length ? uci[uci.length - 1] : null;
    if (state.game.result && state.game.reason && !this.over) {
      this.ctx.client.http.getGame(state.room).then(
        (g) => {
          if (g.status === "finished") this.showEnd(g.result, g.reason, g.pgn);
        },
        () => void 0
      );
    }
    this.render();
  }
  onEvent(ev) {
    const g = this.game;
    switch (ev.type) {
      case "game_started":
        this.game = ev.game;
        this.state.seats = this.state.seats.map((s, i) => {
          const u = i === 0 ? ev.white : ev.black;
          return u && s.free ? { seat: i, free: false, user_id: u.id, name: u.name, connected: true, held_ms: null } : s;
        });
        break;
      case "move":
        g.fen = ev.fen;
        g.moves = [...g.moves, ev.san];
        g.uci = [...g.uci, ev.uci];
        g.turn = ev.by === "white" ? "black" : "white";
        g.clocks = ev.clocks;
        g.draw_offer = null;
        this.lastMove = ev.uci;
        break;
      case "draw_offered":
        g.draw_offer = ev.by;
        break;
      case "draw_declined":
        g.draw_offer = null;
        break;
      case "game_over":
        g.result = ev.result;
        g.reason = ev.reason;
        this.showEnd(ev.result, ev.reason, ev.pgn);
        break;
      case "player_joined":
        if (ev.seat !== null) {
          this.state.seats[ev.seat] = { seat: ev.seat, free: false, user_id: ev.user_id, name: ev.name, connected: true, held_ms: null };
        }
        this.state.members += 1;
        break;
      case "player_disconnected":
      case "player_reconnected": {
        const s = this.state.seats[ev.seat];
        if (s && !s.free) s.connected = ev.type === "player_reconnected";
        break;
      }
      case "seat_freed":
        this.state.seats[ev.seat] = { seat: ev.seat, free: true, reserved: false };
        break;
      default:
        return;
    }
    this.clockAt = performance.now();
    this.render();
  }
  destroy() {
    clearInterval(this.ticker);
    this.cancelDrag();
  }
  name(i) {
    const s = this.state.seats[i];
    if (!s || s.free) return "(free seat)";
    return unescapeName(s.name) + (s.connected ? "" : " (disconnected)");
  }
  render() {
    const side = this.side;
    const flip = side === "black";
    this.el.classList.toggle("flipped", flip);
    this.el.dataset["side"] = side ?? "spectator";
    const pieces = parseFen(this.game.fen);
    const cells = [];
    for (let r = 0; r < 8; r++) {
      for (let f = 0; f < 8; f++) {
        const file = flip ? 7 - f : f;
        const rank = flip ? r + 1 : 8 - r;
        const sq = `${FILES[file]}${rank}`;
        const p = pieces.get(sq);
        const cls = ["sq", (file + rank) % 2 === 0 ? "dark" : "light"];
        if (this.lastMove && (this.lastMove.startsWith(sq) || this.lastMove.slice(2, 4) === sq)) cls.push("last");
        if (this.selected === sq) cls.push("sel");
        const cell = h("div", { class: cls.join(" "), role: "gridcell", "data-square": sq, "aria-label": sq });
        if (p) {
          const white = p === p.toUpperCase();
          cell.append(h("span", { class: `piece ${white ? "w" : "b"}`, "data-piece": p }, (GLYPH[p.toLowerCase()] ?? "?") + "︎"));
        }
        if (f === 0) cell.append(h("span", { class: "coord rank" }, rank));
        if (r === 7) cell.append(h("span", { class: "coord file" }, FILES[file]));
        cells.push(cell);
      }
    }
    this.boardEl.replaceChildren(...cells);
    this.renderClocks();
    this.renderStatus(side);
    this.renderControls(side);
    this.moves.replaceChildren(
      ...chunk(this.game.moves, 2).map((pair, i) => h("li", { value: i + 1 }, pair.join("  ")))
    );
    this.moves.scrollTop = this.moves.scrollHeight;
  }
  renderStatus(side) {
    const g = this.game;
    let t;
    if (g.result) t = `Game over: ${g.result} (${(g.reason ?? "").replace(/_/g, " ")})`;
    else if (!g.started) t = "Waiting for an opponent…";
    else if (side === null) t = `Watching: ${g.turn} to move`;
    else t = g.turn === side ? "Your move" : "Opponent's move";
    if (!g.result && g.draw_offer) t += ` · ${g.draw_offer} offers a draw`;
    this.status.textContent = t;
    this.status.dataset["turn"] = g.turn;
  }
  renderClocks() {
    const g = this.game;
    const running = g.started && !g.result;
    const spent = running ? performance.now() - this.clockAt : 0;
    for (const s of ["white", "black"]) {
      const left = g.clocks[s] - (s === g.turn ? spent : 0);
      const el = this.clocks[s];
      el.replaceChildren(h("span", { class: "who" }, this.name(s === "white" ? 0 : 1)), h("span", { class: "time" }, fmtClock(left)));
      el.classList.toggle("active", running && s === g.turn);
      el.classList.toggle("low", left < 2e4);
    }
  }
  renderControls(side) {
    const g = this.game;
    if (side === null || g.result) {
      this.controls.replaceChildren(side === null ? h("span", { class: "muted", "data-test": "spectating" }, "You are watching this game.") : "");
      return;
    }
    const act = (type) => () => {
      this.ctx.session.request({ type }).catch((err) => this.ctx.notify(errText(err), "error"));
    };
    const items = [];
    if (g.started) {
      if (g.draw_offer && g.draw_offer !== side) {
        items.push(button("Accept draw", act("accept_draw"), { "data-test": "accept-draw" }), button("Decline", act("decline_draw")));
      } else if (!g.draw_offer) {
        items.push(button("Offer draw", act("offer_draw"), { "data-test": "offer-draw" }));
      }
      items.push(button("Resign", act("resign"), { class: "danger", "data-test": "resign" }));
    }
    items.push(h("label", { class: "muted" }, "Promote to ", this.promo));
    this.controls.replaceChildren(...items);
  }
  showEnd(result, reason, pgn) {
    this.over = { result, reason, pgn };
    const side = this.side;
    const won = result === "1-0" && side === "white" || result === "0-1" && side === "black";
    const lost = result === "1-0" && side === "black" || result === "0-1" && side === "white";
    const verdict = side === null ? result : won ? "You won" : lost ? "You lost" : "Draw";
    this.endBox.hidden = false;
    this.endBox.replaceChildren(
      h("h3", { "data-test": "result" }, `${verdict} · ${result} · ${reason.replace(/_/g, " ")}`),
      h("pre", { class: "pgn", "data-test": "pgn" }, pgn)
    );
  }
  // --- input: click-click or drag -------------------------------------------------------------
  squareAt(x, y) {
    const el = document.elementFromPoint(x, y)?.closest("[data-square]");
    return el instanceof HTMLElement ? el.dataset["square"] ?? null : null;
  }
  mine(sq) {
    const side = this.side;
    const p = parseFen(this.game.fen).get(sq);
    if (!p || !side) return false;
    return p === p.toUpperCase() === (side === "white");
  }
  pointerDown(e) {
    const sq = this.squareAt(e.clientX, e.clientY);
    if (!sq || this.side === null || this.game.result) return;
    if (this.selected && this.selected !== sq && !this.mine(sq)) {
      const from = this.selected;
      this.selected = null;
      this.tryMove(from, sq);
      return;
    }
    if (!this.mine(sq)) return;
    e.preventDefault();
    const piece = this.boardEl.querySelector(`[data-square="${sq}"] .piece`);
    const ghost = h("span", { class: "piece ghost" }, piece?.textContent ?? "");
    if (piece?.classList.contains("w")) ghost.classList.add("w");
    else ghost.classList.add("b");
    this.drag = { from: sq, ghost, moved: false };
    this.boardEl.setPointerCapture(e.pointerId);
    this.selected = sq;
    this.render();
  }
  pointerMove(e) {
    const d = this.drag;
    if (!d) return;
    if (!d.moved) {
      d.moved = true;
      document.body.append(d.ghost);
    }
    d.ghost.style.left = `${e.clientX}px`;
    d.ghost.style.top = `${e.clientY}px`;
  }
  pointerUp(e) {
    const d = this.drag;
    if (!d) return;
    this.cancelDrag();
    const to = this.squareAt(e.clientX, e.clientY);
    if (to && to !== d.from) {
      this.selected = null;
      this.tryMove(d.from, to);
    }
  }
  cancelDrag() {
    this.drag?.ghost.remove();
    this.drag = null;
  }
  tryMove(from, to) {
    const p = parseFen(this.game.fen).get(from);
    const promotes = p === "P" && to.endsWith("8") || p === "p" && to.endsWith("1");
    const uci = `${from}${to}${promotes ? this.promo.value : ""}`;
    this.render();
    this.ctx.session.move(uci).catch((err) => {
      const why = err instanceof ProtocolError ? err.message : errText(err);
      this.status.textContent = `Refused ${uci}: ${why}`;
      this.status.classList.add("refused");
      this.boardEl.classList.add("refused");
      this.boardEl.dataset["refused"] = uci;
      setTimeout(() => {
        this.status.classList.remove("refused");
        this.boardEl.classList.remove("refused");
      }, 1500);
    });
  }
};
function chunk(xs, n) {
  const out = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

// demo/src/lobby.ts
var Lobby = class {
  constructor(ctx) {
    this.ctx = ctx;
    const name = h("input", {
      type: "text",
      maxlength: 32,
      required: true,
      value: `${unescapeName(ctx.me.name)}'s room`,
      "aria-label": "room name",
      "data-test": "room-name"
    });
    const kind = h(
      "select",
      { "aria-label": "game", "data-test": "room-kind" },
      h("option", { value: "chess" }, "Chess (5+2)"),
      h("option", { value: "party" }, "Party game (4 slots)")
    );
    const form = h("form", { class: "create" }, name, kind, h("button", { type: "submit", class: "primary", "data-test": "create" }, "Create room"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return;
      const req = kind.value === "party" ? ctx.session.createRoom({ type: "create_room", kind: "party", name: n }) : ctx.session.createRoom({ type: "create_room", kind: "chess", name: n });
      req.catch((err) => ctx.notify(errText(err), "error"));
    });
    this.queueBtn = button("Play now", () => this.toggleQueue(), { class: "primary", "data-test": "play-now" });
    this.chat = new ChatPanel(ctx.client, "lobby", ctx.me.name);
    this.el = h(
      "div",
      { class: "lobby", "data-test": "lobby" },
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Rooms"),
        form,
        h("p", { class: "actions" }, this.queueBtn, " ", this.queueStatus),
        this.list,
        button("Refresh", () => this.refresh(), { class: "link" })
      ),
      h("section", { class: "card" }, h("h2", {}, "Chess leaderboard"), this.board),
      h("section", { class: "card" }, this.chat.el)
    );
    this.refresh();
    this.loadBoard();
    this.timer = setInterval(() => this.refresh(), 4e3);
  }
  ctx;
  el;
  list = h("ul", { class: "rooms", "data-test": "rooms" });
  board = h("ol", { class: "leaders", "data-test": "leaderboard" });
  queueBtn;
  queueStatus = h("span", { class: "muted", "data-test": "queue-status" });
  queued = false;
  timer;
  chat;
  /** Matchmaking found a room (the app joins it). */
  matched() {
    this.queued = false;
    this.queueStatus.textContent = "Match found!";
  }
  destroy() {
    clearInterval(this.timer);
    this.chat.close();
    if (this.queued) this.ctx.session.request({ type: "cancel_queue" }).catch(() => void 0);
  }
  toggleQueue() {
    const s = this.ctx.session;
    if (this.queued) {
      s.request({ type: "cancel_queue" }).then(
        () => {
          this.queued = false;
          this.queueBtn.textContent = "Play now";
          this.queueStatus.textContent = "";
        },
        (err) => this.ctx.notify(errText(err), "error")
      );
      return;
    }
    s.request({ type: "queue", mode: "chess" }).then(
      () => {
        this.queued = true;
        this.queueBtn.textContent = "Cancel";
        this.queueStatus.textContent = "Looking for an opponent…";
      },
      (err) => this.ctx.notify(errText(err), "error")
    );
  }
  refresh() {
    this.ctx.session.listRooms().then(
      (r) => this.renderRooms(r.rooms),
      () => void 0
    );
  }
  renderRooms(rooms) {
    if (rooms.length === 0) {
      this.list.replaceChildren(h("li", { class: "muted" }, "No rooms yet: create one."));
      return;
    }
    const sorted = [...rooms].sort((a, b) => a.room.localeCompare(b.room));
    this.list.replaceChildren(
      ...sorted.map((r) => {
        const full = r.seated >= r.seats;
        const join = button(r.kind === "chess" && full ? "Watch" : "Join", () => this.join(r.room, r.kind === "chess" && full), {
          "data-test": `join-${r.room}`
        });
        const watch = r.kind === "chess" && !full ? button("Watch", () => this.join(r.room, true), { class: "link", "data-test": `watch-${r.room}` }) : null;
        return h(
          "li",
          { "data-room": r.room },
          h("span", { class: `kind ${r.kind}` }, r.kind === "chess" ? "♞︎" : "✦"),
          h("span", { class: "rname" }, unescapeName(r.name)),
          h("span", { class: "muted" }, `${r.seated}/${r.seats} seated · ${r.members} in room${r.in_progress ? " · playing" : ""}`),
          join,
          watch
        );
      })
    );
  }
  join(room, spectate) {
    this.ctx.session.joinRoom(room, spectate ? "spectator" : "player").catch((err) => this.ctx.notify(errText(err), "error"));
  }
  loadBoard() {
    this.ctx.client.http.leaderboard("chess", { limit: 10 }).then(
      (b) => {
        if (b.entries.length === 0) {
          this.board.replaceChildren(h("li", { class: "muted" }, "No rated games yet."));
          return;
        }
        this.board.replaceChildren(
          ...b.entries.map((e) => h("li", {}, h("span", {}, unescapeName(e.player)), h("span", { class: "score" }, e.score)))
        );
      },
      (err) => this.board.replaceChildren(h("li", { class: "muted" }, errText(err)))
    );
  }
};

// demo/src/party.ts
var PartyView = class {
  constructor(ctx, state) {
    this.ctx = ctx;
    this.room = state.room;
    this.state = state;
    this.game = this.state.game;
    this.el = h(
      "section",
      { class: "card party", "data-test": "party-room", "data-room": state.room },
      h("h2", {}, unescapeName(state.name), " ", h("span", { class: "muted room-id" }, state.room)),
      this.status,
      this.slots,
      this.controls,
      this.log
    );
    this.ticker = setInterval(() => this.renderStatus(), 250);
    this.setState(state);
  }
  ctx;
  room;
  el;
  state;
  game;
  at = performance.now();
  slots = h("ol", { class: "slots", "data-test": "slots" });
  status = h("p", { class: "status", "data-test": "party-status" });
  controls = h("p", { class: "actions" });
  log = h("ul", { class: "party-log muted" });
  ticker;
  setState(state) {
    if (!isPartyRoom(state)) return;
    this.state = state;
    this.game = state.game;
    this.at = performance.now();
    this.render();
  }
  onEvent(ev) {
    if (ev.type === "party") {
      this.game = ev.game;
      this.at = performance.now();
      const who = ev.by !== void 0 ? this.nameOf(ev.by) : ev.slot !== void 0 ? `slot ${ev.slot + 1}` : "";
      this.note(`${ev.action.replace(/_/g, " ")}${who ? ` · ${who}` : ""}`);
    } else if (ev.type === "player_joined") {
      this.note(`${unescapeName(ev.name)} joined`);
    } else if (ev.type === "player_disconnected") {
      this.note(`slot ${ev.seat + 1} disconnected (held ${Math.round(ev.grace_ms / 1e3)} s)`);
    } else {
      return;
    }
    this.render();
  }
  destroy() {
    clearInterval(this.ticker);
  }
  nameOf(user) {
    const s = this.game.slots.find((x) => x.user === user);
    return s?.name ? unescapeName(s.name) : user === this.ctx.me.id ? "you" : `player ${user}`;
  }
  note(t) {
    this.log.prepend(h("li", {}, t));
    while (this.log.childElementCount > 8) this.log.lastElementChild?.remove();
  }
  act(type) {
    return () => {
      this.ctx.session.request({ type }).catch((err) => this.ctx.notify(errText(err), "error"));
    };
  }
  render() {
    const g = this.game;
    const me = this.ctx.me.id;
    const mine = g.slots.findIndex((s) => s.user === me);
    const owner = g.owner === me;
    this.slots.replaceChildren(
      ...g.slots.map((s, i) => {
        const cls = ["slot"];
        if (g.phase !== "lobby" && g.active === i && !s.out) cls.push("active");
        if (s.out) cls.push("out");
        if (s.user === me) cls.push("mine");
        const label = s.user === null ? "(open)" : unescapeName(s.name) + (s.user === me ? " (you)" : "");
        const claim = s.user === null && mine < 0 && g.phase === "lobby" ? button(
          "Claim",
          () => {
            this.ctx.session.request({ type: "claim_slot", slot: i }).catch((err) => this.ctx.notify(errText(err), "error"));
          },
          { "data-test": `claim-${i}` }
        ) : null;
        return h(
          "li",
          { class: cls.join(" "), "data-slot": i },
          h("span", { class: "rname" }, label),
          h("span", { class: "muted" }, `${s.turns} turns${s.out ? " · out" : ""}${g.winner === i ? " · winner" : ""}`),
          claim
        );
      })
    );
    const items = [];
    if (mine >= 0 && g.phase === "running" && g.active === mine) {
      items.push(button("End my turn", this.act("switch"), { class: "primary", "data-test": "switch" }));
    }
    if (owner) {
      if (g.phase === "lobby") items.push(button("Start", this.act("start"), { class: "primary", "data-test": "start" }));
      if (g.phase === "running") items.push(button("Pause", this.act("pause"), { "data-test": "pause" }));
      if (g.phase === "paused") items.push(button("Resume", this.act("resume"), { "data-test": "resume" }));
      if (g.phase !== "lobby") items.push(button("Reset", this.act("reset"), { "data-test": "reset" }));
    }
    this.controls.replaceChildren(...items);
    this.renderStatus();
  }
  renderStatus() {
    const g = this.game;
    const active = g.slots[g.active];
    const who = active?.user === this.ctx.me.id ? "your" : `${unescapeName(active?.name) || `slot ${g.active + 1}`}'s`;
    let t;
    switch (g.phase) {
      case "lobby":
        t = `Lobby: claim a slot; the owner starts with 2 or more players (${g.settings.turn_secs} s turns).`;
        break;
      case "running": {
        const left = (g.turn_left_ms ?? 0) - (performance.now() - this.at);
        t = `Round ${g.round + 1}: ${who} turn · ${fmtClock(left)}`;
        break;
      }
      case "paused":
        t = `Paused (${who} turn, ${fmtClock(g.turn_left_ms ?? 0)} left)`;
        break;
      case "finished": {
        const w = g.winner !== null ? g.slots[g.winner] : void 0;
        t = `Finished: ${w ? unescapeName(w.name) : "nobody"} wins`;
        break;
      }
    }
    this.status.textContent = t;
    this.status.dataset["phase"] = g.phase;
  }
};

// demo/src/tab.ts
var TAB_KEY = "roomcore-tab";
var DAY_MS = 24 * 3600 * 1e3;
function tabPrefix() {
  let id = null;
  try {
    id = sessionStorage.getItem(TAB_KEY);
    if (!id) {
      id = crypto.randomUUID().slice(0, 8);
      sessionStorage.setItem(TAB_KEY, id);
    }
  } catch {
    id = "t";
  }
  const prefix = `roomcore:${id}:`;
  try {
    localStorage.setItem(prefix + "seen", String(Date.now()));
    prune();
  } catch {
  }
  return prefix;
}
function prune() {
  const now = Date.now();
  const stale = /* @__PURE__ */ new Set();
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    const m = k && /^roomcore:([^:]+):seen$/.exec(k);
    if (m && now - Number(localStorage.getItem(k)) > DAY_MS) stale.add(`roomcore:${m[1]}:`);
  }
  if (stale.size === 0) return;
  const drop = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && [...stale].some((p) => k.startsWith(p))) drop.push(k);
  }
  for (const k of drop) localStorage.removeItem(k);
}

// demo/src/main.ts
var app = document.getElementById("app");
var connEl = document.getElementById("conn");
var meEl = document.getElementById("me");
var client = new Client(location.origin, { storagePrefix: tabPrefix() });
var session = null;
var current = null;
var lobby = null;
var notice = null;
var STATE_LABEL = {
  idle: "offline",
  connecting: "connecting…",
  connected: "online",
  disconnected: "reconnecting…",
  reconnected: "online",
  closed: "offline"
};
function notify(text, kind = "info") {
  notice?.remove();
  notice = h("p", { class: `notice ${kind}`, role: "status", "data-test": "notice" }, text);
  app.prepend(notice);
  const mine = notice;
  setTimeout(() => {
    if (notice === mine) {
      mine.remove();
      notice = null;
    }
  }, 6e3);
}
function signInScreen() {
  const status = h("p", { class: "muted" });
  const go = button(
    "Play as guest",
    () => {
      go.disabled = true;
      status.textContent = "Signing in…";
      client.guest().then(start, (err) => {
        go.disabled = false;
        status.textContent = errText(err);
      });
    },
    { class: "primary", "data-test": "guest" }
  );
  app.replaceChildren(
    h(
      "section",
      { class: "card signin" },
      h("h1", {}, "Chess, a party game and chat"),
      h("p", {}, "A demo of the roomcore server. Sign in as a guest to see the rooms, play chess or the party game, and chat."),
      go,
      status
    )
  );
}
function start() {
  const user = client.user;
  if (!user) return signInScreen();
  meEl.textContent = unescapeName(user.username);
  meEl.setAttribute("data-test", "me");
  const s = client.game();
  session = s;
  const ctx = { client, session: s, me: { id: user.id, name: user.username }, notify, toLobby: showLobby };
  s.onState((st) => {
    connEl.dataset["state"] = st.state;
    connEl.textContent = STATE_LABEL[st.state];
    if (st.state === "closed" && st.error) notify(`disconnected: ${errText(st.error)}`, "error");
    if (st.state === "closed" && st.code === 4e3) notify("This seat was taken over by another tab.", "error");
  });
  s.on("sync", ({ state }) => openRoom(ctx, state));
  s.on("reconnected", (r) => openRoom(ctx, r.state));
  s.on("message", (m, meta) => {
    if (!ROOM_EVENT_TYPES.includes(m.type)) return;
    const ev = m;
    if (current && current.view.room === ev.room) current.view.onEvent(ev, meta.replayed);
  });
  s.on("match_found", (m) => {
    lobby?.matched();
    s.joinRoom(m.room).catch((err) => notify(`could not join the match: ${errText(err)}`, "error"));
  });
  s.on("server_shutdown", () => notify("The server is restarting; reconnecting…"));
  app.replaceChildren(h("p", { class: "loading" }, "Connecting…"));
  s.connect().then(
    () => {
      if (!s.seatInfo && !current) showLobby();
    },
    (err) => {
      notify(errText(err), "error");
      client.signOut();
      signInScreen();
    }
  );
}
function openRoom(ctx, state) {
  if (current && current.view.room === state.room) {
    current.view.setState(state);
    return;
  }
  closeViews();
  const view = state.kind === "chess" ? new ChessView(ctx, state) : new PartyView(ctx, state);
  const chat = new ChatPanel(ctx.client, state.room, ctx.me.name);
  current = { view, chat };
  const leave = button(
    "Leave room",
    () => {
      ctx.session.leaveRoom().then(showLobby, (err) => notify(errText(err), "error"));
    },
    { "data-test": "leave" }
  );
  app.replaceChildren(
    h("div", { class: "room-layout" }, view.el, h("aside", { class: "side" }, chat.el, h("p", {}, leave)))
  );
}
function closeViews() {
  current?.view.destroy();
  current?.chat.close();
  current = null;
  lobby?.destroy();
  lobby = null;
}
function showLobby() {
  closeViews();
  if (!session) return;
  const ctx = {
    client,
    session,
    me: { id: client.user?.id ?? 0, name: client.user?.username ?? "" },
    notify,
    toLobby: showLobby
  };
  lobby = new Lobby(ctx);
  app.replaceChildren(lobby.el);
}
if (client.token) start();
else signInScreen();
