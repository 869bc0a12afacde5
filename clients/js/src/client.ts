// The entry point: sign-in (guest, register, login, or a token), the HTTP API, and factories
// of game sessions and relay connections that share the client's URL, token and store.

import type { BackoffOptions } from "./backoff.js";
import { GameSession, toWsUrl } from "./game.js";
import { HttpApi, type FetchLike } from "./http.js";
import type { AuthResponse } from "./protocol.js";
import { RELAY_ROOM, RelayConnection } from "./relay.js";
import type { WebSocketCtor } from "./socket.js";
import { defaultStore, JsonStore, type KeyValueStore } from "./storage.js";

export interface ClientOptions {
  /** WebSocket constructor (Node 20 has none: pass the `ws` package's). Default: the global. */
  WebSocket?: WebSocketCtor;
  /** `fetch` implementation. Default: the global. */
  fetch?: FetchLike;
  /** Where tokens and the seat are kept. Default: localStorage in browsers, else memory. */
  storage?: KeyValueStore;
  /** Key prefix in the store. Default `roomcore:`. */
  storagePrefix?: string;
  /** Time-out of HTTP calls and game requests (ms). Default 10000. */
  timeoutMs?: number;
  /** Reconnection backoff. */
  backoff?: BackoffOptions;
  /** Game session keepalive (ms, 0 = off). Default 20000. */
  keepaliveMs?: number;
}

/** A stored sign-in. */
export interface Session {
  token: string;
  expiresAt: number;
  user: AuthResponse["user"];
}

const AUTH_KEY = "auth";

export class Client {
  readonly http: HttpApi;
  readonly store: JsonStore;
  private base: string;
  private auth: Session | null;
  private readonly WS: WebSocketCtor | undefined;

  constructor(
    url: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.base = url.replace(/\/+$/, "");
    this.store = new JsonStore(opts.storage ?? defaultStore(), opts.storagePrefix ?? "roomcore:");
    this.auth = this.store.get<Session>(AUTH_KEY);
    this.WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new Error("no fetch: pass options.fetch");
    this.http = new HttpApi({
      baseUrl: () => this.base,
      token: () => this.token,
      fetch: (i, init) => f(i, init),
      timeoutMs: opts.timeoutMs ?? 10_000,
    });
  }

  /** The server's base URL (`http://host:port`). */
  get url(): string {
    return this.base;
  }
  /** Point the client (and the next reconnect of its sessions) at another address. */
  setUrl(url: string): void {
    this.base = url.replace(/\/+$/, "");
  }
  /** The account token, if signed in and not expired. */
  get token(): string | null {
    return this.auth && this.auth.expiresAt * 1000 > Date.now() ? this.auth.token : null;
  }
  /** The signed-in account. */
  get user(): Session["user"] | null {
    return this.token ? (this.auth as Session).user : null;
  }

  /** Sign in as a guest; a stored, unexpired guest sign-in is reused unless `fresh`. */
  async guest(o: { fresh?: boolean } = {}): Promise<Session> {
    if (!o.fresh && this.auth?.user.guest && this.token && this.auth.expiresAt * 1000 > Date.now() + 60_000) {
      return this.auth;
    }
    return this.keep(await this.http.guest());
  }
  async register(username: string, password: string): Promise<Session> {
    return this.keep(await this.http.register(username, password));
  }
  async login(username: string, password: string): Promise<Session> {
    return this.keep(await this.http.login(username, password));
  }
  /** Use a token obtained elsewhere (checked with `/api/auth/me`). */
  async useToken(token: string): Promise<Session> {
    const me = await new HttpApi({
      baseUrl: () => this.base,
      token: () => token,
      fetch: (i, init) => (this.opts.fetch ?? fetch)(i, init),
      timeoutMs: this.opts.timeoutMs ?? 10_000,
    }).me();
    return this.keepSession({ token, expiresAt: me.expires_at, user: { id: me.id, username: me.username, guest: me.guest } });
  }
  /** Forget the sign-in (and the stored seat). */
  signOut(): void {
    this.auth = null;
    this.store.remove(AUTH_KEY);
    this.store.remove("seat");
  }

  private keep(a: AuthResponse): Session {
    return this.keepSession({ token: a.token, expiresAt: a.expires_at, user: a.user });
  }
  private keepSession(s: Session): Session {
    if (this.auth && this.auth.user.id !== s.user.id) this.store.remove("seat");
    this.auth = s;
    this.store.set(AUTH_KEY, s);
    return s;
  }

  /** A game session on `/ws` (not connected yet: call `connect()`). */
  game(o: { keepaliveMs?: number } = {}): GameSession {
    const WS = this.needWs();
    const opts: ConstructorParameters<typeof GameSession>[0] = {
      WebSocket: WS,
      url: () => toWsUrl(this.base),
      token: () => this.token,
      store: this.store,
      requestTimeoutMs: this.opts.timeoutMs ?? 10_000,
      keepaliveMs: o.keepaliveMs ?? this.opts.keepaliveMs ?? 20_000,
    };
    if (this.opts.backoff) opts.backoff = this.opts.backoff;
    return new GameSession(opts);
  }

  /** A connection to relay room `room` (not connected yet: call `connect()`). */
  relay(room: string): RelayConnection {
    if (!RELAY_ROOM.test(room)) throw new Error("relay room ids are 1 to 64 of A-Z a-z 0-9 _ - . :");
    const WS = this.needWs();
    const opts: ConstructorParameters<typeof RelayConnection>[0] = {
      WebSocket: WS,
      url: () => toWsUrl(this.base).replace(/\/ws$/, "") + "/ws/relay/" + room,
    };
    if (this.opts.backoff) opts.backoff = this.opts.backoff;
    return new RelayConnection(opts);
  }

  private needWs(): WebSocketCtor {
    if (!this.WS) throw new Error("no WebSocket: pass options.WebSocket (the `ws` package in Node 20)");
    return this.WS;
  }
}
