// The wire types of roomcore: the typed game protocol of `GET /ws` (docs/games.md) and the
// JSON bodies of the HTTP API (docs/protocol.md, docs/games.md "HTTP").
//
// TODO(protocol-codegen): this file is written by hand to match docs/games.md and the JSON the
// server builds in engine/src/game/ (actions.rs, rooms.rs, store.rs, mod.rs) and
// engine/src/api/. Once the server has a Rust `ServerEvent` enum (and typed client messages),
// generate this file from the Rust types (ts-rs or schemars) and replace it whole: it holds
// only type declarations and the constant lists below, no logic, and the rest of the library
// imports the protocol only from here.
//
// Conventions, as the server sends them: a field the server always writes but may leave
// empty is `T | null` (serde `Option` without `skip_serializing_if`); a field it writes only
// in some cases is optional (`?`). `seq` is echoed on answers as sent, `null` when the request
// had none.

// ---------------------------------------------------------------------------------------------
// Shared values
// ---------------------------------------------------------------------------------------------

/** Room kinds. */
export type RoomKind = "chess" | "party";
/** How a client joins a room. */
export type JoinRole = "player" | "spectator";
/** Chess sides; seat 0 is white, seat 1 black. */
export type Side = "white" | "black";
/** Chess results (PGN notation). */
export type GameResult = "1-0" | "0-1" | "1/2-1/2";
/** Why a chess game ended. */
export type FinishReason =
  | "checkmate"
  | "stalemate"
  | "insufficient_material"
  | "repetition"
  | "fifty_moves"
  | "resignation"
  | "agreement"
  | "timeout"
  | "abandoned";
/** Lifecycle of a party game. */
export type PartyPhase = "lobby" | "running" | "paused" | "finished";
/** Matchmaking modes. */
export type MatchMode = "chess" | "party";

/** Every `code` of an `error` message (docs/games.md "Envelope and errors"). */
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
export interface UserRef {
  id: number;
  name: string;
}

/** Milliseconds left on each clock. */
export interface Clocks {
  white: number;
  black: number;
}

/** Chess room settings (`create_room`): initial 1..10800 s (300), increment 0..180 s (2). */
export interface ChessSettings {
  initial_secs?: number;
  increment_secs?: number;
}

/** Party game settings: slots 2..8 (4), turn_secs 1..3600 (30), rounds 0..100 (0 = until one is left). */
export interface PartySettings {
  slots: number;
  turn_secs: number;
  rounds?: number;
}

// ---------------------------------------------------------------------------------------------
// Room state
// ---------------------------------------------------------------------------------------------

/** A free seat. */
export interface FreeSeat {
  seat: number;
  free: true;
  /** Reserved by matchmaking for another account. */
  reserved: boolean;
}

/** A taken seat (its player may be disconnected, the seat held `held_ms` more). */
export interface TakenSeat {
  seat: number;
  free: false;
  user_id: number;
  name: string;
  connected: boolean;
  held_ms: number | null;
}

export type SeatState = FreeSeat | TakenSeat;

/** The game part of a chess room's state. */
export interface ChessGameState {
  fen: string;
  /** SAN of every move so far. */
  moves: string[];
  /** UCI of every move so far. */
  uci: string[];
  turn: Side;
  clocks: Clocks;
  increment_ms: number;
  started: boolean;
  draw_offer: Side | null;
  result: GameResult | null;
  reason: FinishReason | null;
}

/** One slot of a party game. */
export interface PartySlot {
  name: string | null;
  /** Account that claimed the slot. */
  user: number | null;
  out: boolean;
  turns: number;
}

/** The game part of a party room's state. */
export interface PartyGameState {
  owner: number;
  settings: Required<PartySettings>;
  phase: PartyPhase;
  slots: PartySlot[];
  active: number;
  turn_left_ms: number | null;
  round: number;
  winner: number | null;
}

/** A room's full state (`room_state`, and `state` in `joined`/`reconnected`). */
export interface RoomStateBase<K extends RoomKind, G> {
  room: string;
  name: string;
  kind: K;
  /** Matchmaking mode of a matched room, else null. */
  mode: string | null;
  room_seq: number;
  seats: SeatState[];
  members: number;
  game: G;
}
export type ChessRoomState = RoomStateBase<"chess", ChessGameState>;
export type PartyRoomState = RoomStateBase<"party", PartyGameState>;
export type RoomState = ChessRoomState | PartyRoomState;

/** One line of `rooms`. */
export interface RoomSummary {
  room: string;
  name: string;
  kind: RoomKind;
  seats: number;
  seated: number;
  members: number;
  in_progress: boolean;
}

// ---------------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------------

interface Env<T extends string> {
  type: T;
  /** Echoed on the answer. */
  seq?: number;
}

export interface HelloMsg extends Env<"hello"> {
  token: string;
}
export type PingMsg = Env<"ping">;
export interface ListRoomsMsg extends Env<"list_rooms"> {
  kind?: RoomKind;
}
export interface CreateChessRoomMsg extends Env<"create_room"> {
  kind: "chess";
  name: string;
  settings?: ChessSettings;
}
export interface CreatePartyRoomMsg extends Env<"create_room"> {
  kind: "party";
  name: string;
  settings?: PartySettings;
}
export type CreateRoomMsg = CreateChessRoomMsg | CreatePartyRoomMsg;
export interface JoinRoomMsg extends Env<"join_room"> {
  room: string;
  role?: JoinRole;
}
export type LeaveRoomMsg = Env<"leave_room">;
export type StateMsg = Env<"state">;
export interface MoveMsg extends Env<"move"> {
  /** UCI (`e2e4`, `e7e8q`) or SAN (`Nf3`). */
  move: string;
}
export type ResignMsg = Env<"resign">;
export type OfferDrawMsg = Env<"offer_draw">;
export type AcceptDrawMsg = Env<"accept_draw">;
export type DeclineDrawMsg = Env<"decline_draw">;
export interface ClaimSlotMsg extends Env<"claim_slot"> {
  slot: number;
  name?: string;
}
export interface UpdateSettingsMsg extends Env<"update_settings"> {
  settings: PartySettings;
}
export type StartMsg = Env<"start">;
export type SwitchMsg = Env<"switch">;
export type PauseMsg = Env<"pause">;
export type ResumeMsg = Env<"resume">;
export type ResetMsg = Env<"reset">;
export interface EliminateMsg extends Env<"eliminate"> {
  slot: number;
}
export interface ReconnectMsg extends Env<"reconnect"> {
  token: string;
  last_seq?: number;
}
export interface QueueMsg extends Env<"queue"> {
  mode: MatchMode;
  region?: string;
  /** Account tokens of the other members of a party. */
  party?: string[];
}
export type CancelQueueMsg = Env<"cancel_queue">;

export type ClientMessage =
  | HelloMsg
  | PingMsg
  | ListRoomsMsg
  | CreateRoomMsg
  | JoinRoomMsg
  | LeaveRoomMsg
  | StateMsg
  | MoveMsg
  | ResignMsg
  | OfferDrawMsg
  | AcceptDrawMsg
  | DeclineDrawMsg
  | ClaimSlotMsg
  | UpdateSettingsMsg
  | StartMsg
  | SwitchMsg
  | PauseMsg
  | ResumeMsg
  | ResetMsg
  | EliminateMsg
  | ReconnectMsg
  | QueueMsg
  | CancelQueueMsg;
export type ClientMessageType = ClientMessage["type"];

// ---------------------------------------------------------------------------------------------
// Server -> client: answers (carry the request's `seq`)
// ---------------------------------------------------------------------------------------------

interface Answer<T extends string> {
  type: T;
  seq: number | null;
}

export interface WelcomeMsg extends Answer<"welcome"> {
  user: UserRef;
  shard: number;
}
export type PongMsg = Answer<"pong">;
export interface RoomsMsg extends Answer<"rooms"> {
  rooms: RoomSummary[];
}
export interface JoinedMsg extends Answer<"joined"> {
  room: string;
  role: JoinRole;
  seat: number | null;
  reconnect_token: string | null;
  state: RoomState;
}
/** `ok`: `room_seq` for room actions, `saved` for moves, `seat` and `reconnect_token` for `claim_slot`. */
export interface OkMsg extends Answer<"ok"> {
  room_seq?: number;
  saved?: boolean;
  seat?: number;
  reconnect_token?: string;
}
/** A refused message; `seq` is absent on errors that answer no particular message (`rate_limited`). */
export interface ErrorMsg {
  type: "error";
  code: ErrorCode;
  message: string;
  seq?: number | null;
}
export type RoomStateMsg = { type: "room_state"; seq?: number | null } & RoomState;
export interface ReconnectedMsg extends Answer<"reconnected"> {
  room: string;
  seat: number;
  reconnect_token: string;
  state: RoomState;
  missed: RoomEvent[];
  missed_complete: boolean;
}
export interface QueuedMsg extends Answer<"queued"> {
  ticket: string;
  mode: MatchMode;
  region: string;
}
export interface QueueCancelledMsg extends Answer<"queue_cancelled"> {
  removed: boolean;
}

// ---------------------------------------------------------------------------------------------
// Server -> client: room events (every member; `room` and `room_seq` on each)
// ---------------------------------------------------------------------------------------------

interface Ev<T extends string> {
  type: T;
  room: string;
  room_seq: number;
}

export interface PlayerJoinedEvent extends Ev<"player_joined"> {
  user_id: number;
  name: string;
  seat: number | null;
  role: JoinRole;
}
export interface PlayerLeftEvent extends Ev<"player_left"> {
  user_id: number | null;
}
export interface PlayerDisconnectedEvent extends Ev<"player_disconnected"> {
  seat: number;
  user_id: number | null;
  grace_ms: number;
}
export interface PlayerReconnectedEvent extends Ev<"player_reconnected"> {
  seat: number;
  user_id: number;
}
export interface SeatFreedEvent extends Ev<"seat_freed"> {
  seat: number;
  user_id: number | null;
  reason: "left" | "reconnect grace expired";
}
export interface GameStartedEvent extends Ev<"game_started"> {
  white: UserRef | null;
  black: UserRef | null;
  game: ChessGameState;
}
export interface MoveEvent extends Ev<"move"> {
  by: Side;
  uci: string;
  san: string;
  fen: string;
  ply: number;
  clocks: Clocks;
}
export interface DrawOfferedEvent extends Ev<"draw_offered"> {
  by: Side;
}
export interface DrawDeclinedEvent extends Ev<"draw_declined"> {
  by: Side;
}
export interface GameOverEvent extends Ev<"game_over"> {
  result: GameResult;
  winner: Side | null;
  reason: FinishReason;
  pgn: string;
}
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
/** A party game change; `by` (account) on player actions, `slot` on `turn_timeout`/`released`. */
export interface PartyEvent extends Ev<"party"> {
  action: PartyAction;
  by?: number;
  slot?: number;
  game: PartyGameState;
}

export type RoomEvent =
  | PlayerJoinedEvent
  | PlayerLeftEvent
  | PlayerDisconnectedEvent
  | PlayerReconnectedEvent
  | SeatFreedEvent
  | GameStartedEvent
  | MoveEvent
  | DrawOfferedEvent
  | DrawDeclinedEvent
  | GameOverEvent
  | PartyEvent;
export type RoomEventType = RoomEvent["type"];

/** Every room event type (for dispatch and validation). */
export const ROOM_EVENT_TYPES: readonly RoomEventType[] = [
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
];

// ---------------------------------------------------------------------------------------------
// Server -> client: socket-only messages
// ---------------------------------------------------------------------------------------------

export interface MatchPlayer {
  seat: number;
  user_id: number;
  name: string;
}
export interface MatchFoundMsg {
  type: "match_found";
  ticket: string;
  room: string;
  mode: MatchMode;
  kind: RoomKind;
  team: number;
  seats: number[];
  players: MatchPlayer[];
  rating_spread: number;
}
/** Sent before the server closes the socket with 1001. */
export interface ServerShutdownMsg {
  type: "server_shutdown";
  reason?: string;
  /** Where to reconnect (a later cluster feature: the node that takes over). */
  reconnect_url?: string;
}

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
export type ServerMessage = ServerAnswer | RoomEvent | MatchFoundMsg | ServerShutdownMsg;
export type ServerMessageType = ServerMessage["type"];

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
/** `GET /api/games/{id}` of a running game. */
export type LiveGame = { status: "live" } & RoomState;
export type GameResponse = FinishedGame | LiveGame;
/** `POST /api/matchmaking/tickets`. */
export interface TicketCreated {
  ticket: string;
  status: "queued";
  mode: MatchMode;
  region: string;
  queue: string;
}
/** `GET /api/matchmaking/tickets/{ticket}`. */
export interface TicketStatus {
  ticket: string;
  status: "queued" | "matched" | "cancelled";
  mode: MatchMode;
  queue: string;
  members: { user_id: number; name: string; rating: number }[];
  match?: MatchFoundMsg;
}
/** `DELETE /api/matchmaking/tickets/{ticket}`. */
export interface TicketCancelled {
  ticket: string;
  status: "cancelled";
}
/** Every HTTP error body. */
export interface HttpErrorBody {
  error: string;
}
