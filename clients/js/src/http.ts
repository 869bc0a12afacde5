// The HTTP API (docs/protocol.md, docs/games.md "HTTP") over `fetch`; errors become `HttpError`.

import { HttpError, parseRetryAfter } from "./errors.js";
import type {
  AuthResponse,
  GameResponse,
  LeaderboardPeriod,
  LeaderboardResponse,
  MatchMode,
  MeResponse,
  MyRankResponse,
  ScoreResponse,
  TicketCancelled,
  TicketCreated,
  TicketView,
} from "./protocol.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** Base URL of the server, e.g. `http://localhost:8080`. */
  baseUrl: () => string;
  /** The bearer token of authenticated calls. */
  token: () => string | null;
  fetch: FetchLike;
  /** Abort a request after this long (ms). Default 10000. */
  timeoutMs: number;
}

/** Typed calls of the HTTP API. */
export class HttpApi {
  constructor(private readonly o: HttpOptions) {}

  /** One request; the parsed JSON body, or an `HttpError`. */
  async call<T>(method: string, path: string, body?: unknown, auth = false): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) {
      const t = this.o.token();
      if (!t) throw new HttpError(401, "not signed in");
      headers["Authorization"] = `Bearer ${t}`;
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.o.timeoutMs);
    let res: Response;
    try {
      const init: RequestInit = { method, headers, signal: ctl.signal };
      if (body !== undefined) init.body = JSON.stringify(body);
      res = await this.o.fetch(this.o.baseUrl().replace(/\/+$/, "") + path, init);
    } catch (err) {
      clearTimeout(timer);
      const why = ctl.signal.aborted ? `timed out after ${this.o.timeoutMs} ms` : String(err);
      throw new HttpError(0, `${method} ${path}: ${why}`);
    }
    let text: string;
    try {
      text = await res.text();
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      const msg =
        parsed && typeof parsed === "object" && typeof (parsed as { error?: unknown }).error === "string"
          ? (parsed as { error: string }).error
          : `HTTP ${res.status}`;
      throw new HttpError(
        res.status,
        msg,
        parseRetryAfter(res.headers.get("Retry-After")),
        res.headers.get("X-Request-Id") ?? undefined,
      );
    }
    return parsed as T;
  }

  guest(): Promise<AuthResponse> {
    return this.call("POST", "/api/auth/guest", {});
  }
  register(username: string, password: string): Promise<AuthResponse> {
    return this.call("POST", "/api/auth/register", { username, password });
  }
  login(username: string, password: string): Promise<AuthResponse> {
    return this.call("POST", "/api/auth/login", { username, password });
  }
  me(): Promise<MeResponse> {
    return this.call("GET", "/api/auth/me", undefined, true);
  }
  postScore(game: string, score: number): Promise<ScoreResponse> {
    return this.call("POST", "/api/scores", { game, score }, true);
  }
  leaderboard(game: string, o: { limit?: number; period?: LeaderboardPeriod } = {}): Promise<LeaderboardResponse> {
    return this.call("GET", `/api/leaderboard?${query({ game, limit: o.limit, period: o.period })}`);
  }
  myRank(game: string, o: { period?: LeaderboardPeriod } = {}): Promise<MyRankResponse> {
    return this.call("GET", `/api/leaderboard/me?${query({ game, period: o.period })}`, undefined, true);
  }
  /** A finished game (with its PGN) or a running one (`status: "live"`). */
  getGame(id: string): Promise<GameResponse> {
    return this.call("GET", `/api/games/${encodeURIComponent(id)}`);
  }
  createTicket(o: { mode: MatchMode; region?: string; party?: string[] }): Promise<TicketCreated> {
    return this.call("POST", "/api/matchmaking/tickets", o, true);
  }
  ticket(id: string): Promise<TicketView> {
    return this.call("GET", `/api/matchmaking/tickets/${encodeURIComponent(id)}`, undefined, true);
  }
  cancelTicket(id: string): Promise<TicketCancelled> {
    return this.call("DELETE", `/api/matchmaking/tickets/${encodeURIComponent(id)}`, undefined, true);
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  return p.toString();
}
