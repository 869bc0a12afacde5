// The wire types of roomcore: the typed game protocol of `GET /ws` (docs/games.md) and the
// JSON bodies of the HTTP API (docs/protocol.md, docs/games.md "HTTP").
//
// The game protocol's types are GENERATED from the server's Rust types (engine/src/game/ts.rs,
// ts-rs) into protocol.gen.ts, re-exported here: `ServerEvent` (every message to one socket),
// `RoomEvent` and `RoomEventMessage` (a room event as sent, with `room` and `room_seq`),
// `ClientMessage`, `RoomState` and its parts, `TicketView`, `LiveGame`. `npm run gen` refreshes
// that file and the Rust tests fail while it is stale. This file only names members of those
// unions for the library (`Extract<...>`, nothing restated), narrows the few fields the server
// types as plain strings (error codes, party actions), and holds what has no Rust type yet: the
// HTTP bodies of engine/src/api. No logic but two type guards.
//
// Conventions, as the server sends them: a field the server always writes but may leave
// empty is `T | null` (serde `Option`); a field it writes only in some cases is optional (`?`).
// `seq` is echoed on answers as sent, `null` when the request had none.

import type {
  ChessView,
  ClientMessage,
  GameResult,
  JoinAs,
  LiveGame,
  PartyView,
  Reason,
  RoomEvent,
  RoomEventMessage,
  RoomState,
  SeatView,
  ServerEvent,
  User,
} from "./protocol.gen.js";

export type * from "./protocol.gen.js";

/** `T` must be `never` (a compile-time check that a list covers a union). */
type Covered<T extends never> = T;

// ---------------------------------------------------------------------------------------------
// Shared values
// ---------------------------------------------------------------------------------------------

/** Room kinds. */
export type RoomKind = RoomState["kind"];
/** How a client joins a room. */
export type JoinRole = JoinAs;
/** Why a chess game ended. */
export type FinishReason = Reason;
/** Lifecycle of a party game. */
export type PartyPhase = PartyView["phase"];
/** Matchmaking modes the server runs (it answers `unknown_mode` to others). */
export type MatchMode = "chess" | "party";

/** Every `code` of an `error` message (docs/games.md "Envelope and errors"; the server writes
 * them as string literals, so this list is kept by hand). */
export const ERROR_CODES = [
  "invalid_message",
  "unknown_type",
  "unauthenticated",
  "forbidden",
  "not_found",
  "not_in_room",
  "already_in_room",
  "already_seated",
  "room_full",
  "too_many_rooms",
  "rate_limited",
  "invalid_settings",
  "wrong_game",
  "illegal_move",
  "not_your_turn",
  "not_started",
  "game_over",
  "no_draw_offer",
  "settings_locked",
  "invalid_state",
  "slot_taken",
  "no_such_slot",
  "invalid_token",
  "unknown_mode",
  "already_queued",
  "not_queued",
  "party_too_large",
  "unavailable",
  "chaos_injected",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A user as rooms show it (names are HTML-escaped by the server). */
export type UserRef = User;

// ---------------------------------------------------------------------------------------------
// Room state
// ---------------------------------------------------------------------------------------------

/** A free seat (`reserved`: by matchmaking for another account). */
export type FreeSeat = Extract<SeatView, { free: true }>;
/** A taken seat (its player may be disconnected, the seat held `held_ms` more). */
export type TakenSeat = Extract<SeatView, { free: false }>;
export type SeatState = SeatView;
/** The game part of a chess room's state. */
export type ChessGameState = ChessView;
/** One slot of a party game. */
export type PartySlot = PartyView["slots"][number];
/** The game part of a party room's state. */
export type PartyGameState = PartyView;
/** A chess room's state: the server sends `game` as a `ChessView` when `kind` is `chess`. */
export type ChessRoomState = RoomState & { kind: "chess"; game: ChessView };
/** A party room's state: `game` is a `PartyView` when `kind` is `party`. */
export type PartyRoomState = RoomState & { kind: "party"; game: PartyView };
/** Whether `s` is a chess room's state (its `game` is then a `ChessView`). */
export function isChessRoom(s: RoomState): s is ChessRoomState {
  return s.kind === "chess";
}
/** Whether `s` is a party room's state (its `game` is then a `PartyView`). */
export function isPartyRoom(s: RoomState): s is PartyRoomState {
  return s.kind === "party";
}

// ---------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------

export type ClientMessageType = ClientMessage["type"];
/** The client message of type `K`. */
export type ClientMessageOf<K extends ClientMessageType> = Extract<ClientMessage, { type: K }>;

export type HelloMsg = ClientMessageOf<"hello">;
export type PingMsg = ClientMessageOf<"ping">;
export type ListRoomsMsg = ClientMessageOf<"list_rooms">;
export type CreateRoomMsg = ClientMessageOf<"create_room">;
export type CreateChessRoomMsg = Extract<CreateRoomMsg, { kind: "chess" }>;
export type CreatePartyRoomMsg = Extract<CreateRoomMsg, { kind: "party" }>;
export type JoinRoomMsg = ClientMessageOf<"join_room">;
export type LeaveRoomMsg = ClientMessageOf<"leave_room">;
export type StateMsg = ClientMessageOf<"state">;
export type MoveMsg = ClientMessageOf<"move">;
export type ResignMsg = ClientMessageOf<"resign">;
export type OfferDrawMsg = ClientMessageOf<"offer_draw">;
export type AcceptDrawMsg = ClientMessageOf<"accept_draw">;
export type DeclineDrawMsg = ClientMessageOf<"decline_draw">;
export type ClaimSlotMsg = ClientMessageOf<"claim_slot">;
export type UpdateSettingsMsg = ClientMessageOf<"update_settings">;
export type StartMsg = ClientMessageOf<"start">;
export type SwitchMsg = ClientMessageOf<"switch">;
export type PauseMsg = ClientMessageOf<"pause">;
export type ResumeMsg = ClientMessageOf<"resume">;
export type ResetMsg = ClientMessageOf<"reset">;
export type EliminateMsg = ClientMessageOf<"eliminate">;
export type ReconnectMsg = ClientMessageOf<"reconnect">;
export type QueueMsg = ClientMessageOf<"queue">;
export type CancelQueueMsg = ClientMessageOf<"cancel_queue">;

// ---------------------------------------------------------------------------------------------
// Server -> client: answers (carry the request's `seq`, null when it had none)
// ---------------------------------------------------------------------------------------------

/** The message to one socket of type `K`. */
export type ServerEventOf<K extends ServerEvent["type"]> = Extract<ServerEvent, { type: K }>;

export type WelcomeMsg = ServerEventOf<"welcome">;
export type PongMsg = ServerEventOf<"pong">;
export type RoomsMsg = ServerEventOf<"rooms">;
export type JoinedMsg = ServerEventOf<"joined">;
/** `ok`: `room_seq` for room actions, `saved` for moves, `seat` and `reconnect_token` for `claim_slot`. */
export type OkMsg = ServerEventOf<"ok">;
/** A refused message (`seq` is null when the request had none, or for `rate_limited`). */
export type ErrorMsg = ServerEventOf<"error"> & { code: ErrorCode };
export type RoomStateMsg = ServerEventOf<"room_state">;
export type ReconnectedMsg = ServerEventOf<"reconnected">;
export type QueuedMsg = ServerEventOf<"queued">;
export type QueueCancelledMsg = ServerEventOf<"queue_cancelled">;

// ---------------------------------------------------------------------------------------------
// Server -> client: room events (every member; `room` and `room_seq` on each)
// ---------------------------------------------------------------------------------------------

/** What a party event did (the server writes these as string literals). */
export type PartyAction =
  | "claim_slot"
  | "update_settings"
  | "start"
  | "switch"
  | "pause"
  | "resume"
  | "reset"
  | "eliminate"
  | "turn_timeout"
  | "released";

/** The room event of type `K`, as sent. */
export type RoomEventOf<K extends RoomEvent["type"]> = Extract<RoomEventMessage, { type: K }>;

export type PlayerJoinedEvent = RoomEventOf<"player_joined">;
export type PlayerLeftEvent = RoomEventOf<"player_left">;
export type PlayerDisconnectedEvent = RoomEventOf<"player_disconnected">;
export type PlayerReconnectedEvent = RoomEventOf<"player_reconnected">;
/** A seat freed; `reason` is `left` or `reconnect grace expired`. */
export type SeatFreedEvent = RoomEventOf<"seat_freed">;
export type GameStartedEvent = RoomEventOf<"game_started">;
export type MoveEvent = RoomEventOf<"move">;
export type DrawOfferedEvent = RoomEventOf<"draw_offered">;
export type DrawDeclinedEvent = RoomEventOf<"draw_declined">;
export type GameOverEvent = RoomEventOf<"game_over">;
/** A party game change; `by` (account) on player actions, `slot` on `turn_timeout`/`released`. */
export type PartyEvent = RoomEventOf<"party"> & { action: PartyAction };

export type RoomEventType = RoomEvent["type"];

const ROOM_EVENTS = [
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
  "party",
] as const satisfies readonly RoomEventType[];
/** Every room event type (for dispatch and validation). */
export const ROOM_EVENT_TYPES: readonly RoomEventType[] = ROOM_EVENTS;
// A room event type added on the server does not compile here until it is listed.
type _EveryRoomEvent = Covered<Exclude<RoomEventType, (typeof ROOM_EVENTS)[number]>>;

// ---------------------------------------------------------------------------------------------
// Server -> client: socket-only messages
// ---------------------------------------------------------------------------------------------

export type MatchFoundMsg = ServerEventOf<"match_found">;
/** Sent before the server closes the socket with 1001. `reconnect_url` (where to reconnect: the
 * node that takes over) is not sent yet: the server's `ServerShutdown` has no such field until
 * the cluster work adds it; the session already follows it when present. */
export type ServerShutdownMsg = ServerEventOf<"server_shutdown"> & { reconnect_url?: string };

export type ServerAnswer =
  | WelcomeMsg
  | PongMsg
  | RoomsMsg
  | JoinedMsg
  | OkMsg
  | ErrorMsg
  | RoomStateMsg
  | ReconnectedMsg
  | QueuedMsg
  | QueueCancelledMsg;
/** Every message the server sends on `/ws` (`ServerEvent` with the narrowed `error` and
 * `server_shutdown`, and every room event as sent). */
export type ServerMessage =
  | Exclude<ServerEvent, { type: "error" | "server_shutdown" }>
  | ErrorMsg
  | ServerShutdownMsg
  | RoomEventMessage;
export type ServerMessageType = ServerMessage["type"];
// Every answer above is a server message.
type _Answers = Covered<Exclude<ServerAnswer["type"], ServerMessageType>>;

/** The answer each client message gets (an `error` instead when refused). */
export interface AnswerOf {
  hello: WelcomeMsg;
  ping: PongMsg;
  list_rooms: RoomsMsg;
  create_room: JoinedMsg;
  join_room: JoinedMsg;
  leave_room: OkMsg;
  state: RoomStateMsg;
  move: OkMsg;
  resign: OkMsg;
  offer_draw: OkMsg;
  accept_draw: OkMsg;
  decline_draw: OkMsg;
  claim_slot: OkMsg;
  update_settings: OkMsg;
  start: OkMsg;
  switch: OkMsg;
  pause: OkMsg;
  resume: OkMsg;
  reset: OkMsg;
  eliminate: OkMsg;
  reconnect: ReconnectedMsg;
  queue: QueuedMsg;
  cancel_queue: QueueCancelledMsg;
}
// A client message added on the server does not compile here until it has an answer.
type _EveryRequest = Covered<Exclude<ClientMessageType, keyof AnswerOf>>;

// ---------------------------------------------------------------------------------------------
// HTTP API bodies
// ---------------------------------------------------------------------------------------------

/** `POST /api/auth/register`, `/login`, `/guest`. */
export interface AuthResponse {
  token: string;
  token_type: "Bearer";
  expires_at: number;
  user: { id: number; username: string; guest: boolean };
}
/** `GET /api/auth/me`. */
export interface MeResponse {
  id: number;
  username: string;
  guest: boolean;
  expires_at: number;
}
/** `POST /api/scores`. */
export interface ScoreResponse {
  id: number;
  game: string;
  score: number;
  at: number;
  personal_best: boolean;
}
export type LeaderboardPeriod = "alltime" | "daily";
export interface LeaderboardEntry {
  rank: number;
  user_id: number;
  player: string;
  score: number;
  at: number;
}
/** `GET /api/leaderboard`. */
export interface LeaderboardResponse {
  game: string;
  period: LeaderboardPeriod;
  day: string | null;
  updated_at: number;
  entries: LeaderboardEntry[];
}
/** `GET /api/leaderboard/me`. */
export interface MyRankResponse {
  game: string;
  period: LeaderboardPeriod;
  user_id: number;
  player: string;
  rank: number | null;
  score: number | null;
  at: number | null;
}
export interface FinishedGamePlayer {
  user_id: number;
  name: string;
  rating_before: number;
  rating_after: number;
}
/** `GET /api/games/{id}` of a finished game. */
export interface FinishedGame {
  id: string;
  status: "finished";
  mode: string;
  white: FinishedGamePlayer;
  black: FinishedGamePlayer;
  result: GameResult;
  reason: FinishReason;
  moves: number;
  started_at: number;
  ended_at: number;
  pgn: string;
}
/** `GET /api/games/{id}`: a finished game, or a running one (`LiveGame`, generated). */
export type GameResponse = FinishedGame | LiveGame;
/** `POST /api/matchmaking/tickets`. */
export interface TicketCreated {
  ticket: string;
  status: "queued";
  mode: MatchMode;
  region: string;
  queue: string;
}
/* `GET /api/matchmaking/tickets/{ticket}`: `TicketView` (generated). */
/** `DELETE /api/matchmaking/tickets/{ticket}`. */
export interface TicketCancelled {
  ticket: string;
  status: "cancelled";
}
/** Every HTTP error body. */
export interface HttpErrorBody {
  error: string;
}
