// GENERATED from the server's Rust protocol types by engine/src/game/ts.rs (ts-rs): do not edit.
// Refresh with `npm run gen` in clients/js; `cargo test -p roomcore --lib game::ts` fails while
// this file is stale. Hand-written names, narrowings and constants are in protocol.ts.

/**
 * Chess room settings.
 */
export type ChessSettings = { initial_secs?: number, increment_secs?: number };

/**
 * The chess part of a room's state.
 */
export type ChessView = {
  fen: string,
  /** The moves in SAN. */
  moves: Array<string>,
  uci: Array<string>,
  turn: Side,
  clocks: Clocks,
  increment_ms: number,
  started: boolean,
  draw_offer: Side | null,
  result: GameResult | null,
  reason: Reason | null,
};

/**
 * A client message: a body and the optional `seq` echoed on its answer.
 */
export type ClientMessage = {
  /** Echoed on the answer. */
  seq?: number,
} & (
  | {
    "type": "hello",
    /** From `/api/auth/guest`, `/login` or `/register`. */
    token: string,
  }
  | { "type": "ping" }
  | { "type": "list_rooms", kind?: Kind }
  | { "type": "create_room" } & CreateRoom
  | {
    "type": "join_room",
    room: string,
    /** `player` when left out. */
    role?: JoinAs,
  }
  | { "type": "leave_room" }
  | { "type": "state" }
  | {
    "type": "move",
    /** UCI (`e2e4`, `e7e8q`) or SAN (`Nf3`). */
    move: string,
  }
  | { "type": "resign" }
  | { "type": "offer_draw" }
  | { "type": "accept_draw" }
  | { "type": "decline_draw" }
  | {
    "type": "claim_slot",
    slot: number,
    /** The account's name when left out. */
    name?: string,
  }
  | { "type": "update_settings", settings: PartySettingsInput }
  | { "type": "start" }
  | { "type": "switch" }
  | { "type": "pause" }
  | { "type": "resume" }
  | { "type": "reset" }
  | { "type": "eliminate", slot: number }
  | {
    "type": "reconnect",
    token: string,
    /** The highest `room_seq` applied (0 when left out). */
    last_seq?: number,
  }
  | {
    "type": "queue",
    mode: string,
    /** `any` when left out. */
    region?: string,
    /** Account tokens of the other members of a party. */
    party?: Array<string>,
  }
  | { "type": "cancel_queue" }
);

/**
 * Remaining ms of each side.
 */
export type Clocks = { white: number, black: number };

/**
 * `create_room`, by kind.
 */
export type CreateRoom =
  | { "kind": "chess", name: string, settings?: ChessSettings }
  | { "kind": "party", name: string, settings?: PartySettingsInput };

/**
 * The body of `ok`: the fields an action answers with.
 */
export type Done = {
  seq: number | null,
  room_seq?: number,
  /** A chess move: whether its snapshot is durable. */
  saved?: boolean,
  /** A party slot claimed: the seat's token. */
  reconnect_token?: string,
  seat?: number,
};

/**
 * A chess result as the server writes it (`Finish::result`).
 */
export type GameResult = "1-0" | "0-1" | "1/2-1/2";

/**
 * The game of a room.
 */
export type GameView = ChessView | PartyView;

/**
 * How a client joins a room.
 */
export type JoinAs = "player" | "spectator";

/**
 * Room kinds.
 */
export type Kind = "chess" | "party";

/**
 * A running game as `GET /api/games/{id}` shows it.
 */
export type LiveGame = {
  /** Always `"live"`. */
  status: "live",
  room: string,
  name: string,
  kind: Kind,
  mode: string | null,
  room_seq: number,
  seats: Array<SeatView>,
  members: number,
  game: GameView,
};

/**
 * `match_found`: pushed to a queued socket, kept on an HTTP ticket.
 */
export type MatchFound = {
  ticket: string,
  room: string,
  mode: string,
  kind: Kind,
  team: number,
  seats: Array<number>,
  players: Array<MatchPlayer>,
  rating_spread: number,
  /** In a cluster: the base URL of the node that owns the match's room. */
  owner_url?: string,
};

/**
 * A player of a formed match.
 */
export type MatchPlayer = { seat: number, user_id: number, name: string };

/**
 * One player of a ticket.
 */
export type Member = { user_id: number, name: string, rating: number };

/**
 * Game settings (locked once the game starts).
 */
export type PartySettings = {
  /** Number of slots, 2..=8. */
  slots: number,
  /** Seconds a player has for one turn, 1..=3600. */
  turn_secs: number,
  /** Rounds before the game ends (0 = until one player is left), 0..=100. */
  rounds: number,
};

/**
 * Party settings as a client sends them (`create_room`, `update_settings`): `rounds` may be
 * left out (0). The server always writes it (`PartySettings`).
 */
export type PartySettingsInput = {
  /** 2..8 (4 when no settings are given). */
  slots: number,
  /** 1..3600 (30). */
  turn_secs: number,
  /** 0..100 (0 = until one player is left). */
  rounds?: number,
};

/**
 * The party-game part of a room's state.
 */
export type PartyView = {
  owner: number,
  settings: PartySettings,
  phase: Phase,
  slots: Array<Slot>,
  active: number,
  turn_left_ms: number | null,
  round: number,
  winner: number | null,
};

/**
 * Lifecycle of a party game.
 */
export type Phase = "lobby" | "running" | "paused" | "finished";

/**
 * Why a game ended.
 */
export type Reason =
  | "checkmate"
  | "stalemate"
  | "insufficient_material"
  | "repetition"
  | "fifty_moves"
  | "resignation"
  | "agreement"
  | "timeout"
  | "abandoned";

/**
 * A member's role in a room.
 */
export type Role = "player" | "spectator";

/**
 * What happened in a room (every member hears it).
 */
export type RoomEvent =
  | {
    "type": "player_joined",
    user_id: number,
    name: string,
    seat: number | null,
    role: Role,
  }
  | { "type": "player_left", user_id: number | null }
  | {
    "type": "player_disconnected",
    seat: number,
    user_id: number | null,
    grace_ms: number,
  }
  | { "type": "player_reconnected", seat: number, user_id: number }
  | {
    "type": "seat_freed",
    seat: number,
    user_id: number | null,
    reason: string,
  }
  | {
    "type": "game_started",
    white: User | null,
    black: User | null,
    game: GameView,
  }
  | {
    "type": "move",
    by: Side,
    uci: string,
    san: string,
    fen: string,
    ply: number,
    clocks: Clocks,
  }
  | { "type": "draw_offered", by: Side }
  | { "type": "draw_declined", by: Side }
  | {
    "type": "game_over",
    result: GameResult,
    winner: Side | null,
    reason: Reason,
    pgn: string,
  }
  | {
    "type": "party",
    action: string,
    by?: number,
    slot?: number,
    game: PartyView,
  };

/**
 * The full state of a room (`room_state`, and `state` inside `joined`/`reconnected`).
 */
export type RoomState = {
  room: string,
  name: string,
  kind: Kind,
  mode: string | null,
  room_seq: number,
  seats: Array<SeatView>,
  members: number,
  game: GameView,
};

/**
 * One line of `rooms` (`list_rooms`).
 */
export type RoomSummary = {
  room: string,
  name: string,
  kind: Kind,
  seats: number,
  seated: number,
  members: number,
  in_progress: boolean,
};

/**
 * One seat: free (maybe reserved for a matched player) or taken.
 */
export type SeatView =
  | {
    seat: number,
    /** Always `true` here. */
    free: true,
    reserved: boolean,
  }
  | {
    seat: number,
    /** Always `false` here. */
    free: false,
    user_id: number,
    name: string,
    connected: boolean,
    /** While disconnected: ms left of the grace period. */
    held_ms: number | null,
  };

/**
 * A message to one socket.
 */
export type ServerEvent =
  | {
    "type": "error",
    code: string,
    message: string,
    seq: number | null,
  }
  | { "type": "ok" } & Done
  | { "type": "welcome", seq: number | null, user: User, shard: number }
  | { "type": "pong", seq: number | null }
  | { "type": "rooms", seq: number | null, rooms: Array<RoomSummary> }
  | {
    "type": "joined",
    seq: number | null,
    room: string,
    role: Role,
    seat: number | null,
    reconnect_token: string | null,
    state: RoomState,
    /**
     * In a cluster: the base URL of the node that owns the room (connect there directly
     * to skip the hop).
     */
    owner_url?: string,
  }
  | {
    "type": "room_state",
    seq: number | null,
    room: string,
    name: string,
    kind: Kind,
    mode: string | null,
    room_seq: number,
    seats: Array<SeatView>,
    members: number,
    game: GameView,
  }
  | {
    "type": "reconnected",
    seq: number | null,
    room: string,
    seat: number,
    reconnect_token: string,
    state: RoomState,
    /** The events after `last_seq` still in the room's log, as they were sent. */
    missed: Array<RoomEventMessage>,
    missed_complete: boolean,
    owner_url?: string,
  }
  | {
    "type": "queued",
    seq: number | null,
    ticket: string,
    mode: string,
    region: string,
  }
  | { "type": "queue_cancelled", seq: number | null, removed: boolean }
  | { "type": "match_found" } & MatchFound
  | {
    "type": "server_shutdown",
    reason: string,
    /** In a cluster: another node to reconnect to. */
    reconnect_url?: string,
  };

/**
 * A player's colour.
 */
export type Side = "white" | "black";

/**
 * One slot of the game.
 */
export type Slot = {
  /** Display name (already sanitised by the protocol layer). */
  name: string | null,
  /** Account that claimed the slot. */
  user: number | null,
  /** Out of the running game (eliminated, left, or not claimed at start). */
  out: boolean,
  /** Turns this slot has played. */
  turns: number,
};

/**
 * Where a ticket stands.
 */
export type TicketStatus = "queued" | "matched" | "cancelled";

/**
 * A ticket as a poll answers it (`GET /api/matchmaking/tickets/{id}`).
 */
export type TicketView = {
  ticket: string,
  status: TicketStatus,
  mode: string,
  queue: string,
  members: Array<Member>,
  /** The match, once formed. */
  match?: MatchFound,
};

/**
 * An authenticated player.
 */
export type User = { id: number, name: string };

/** A room event as it is sent: with its room and its number there (`RoomEvent::encode`). */
export type RoomEventMessage = RoomEvent & { room: string, room_seq: number, };
