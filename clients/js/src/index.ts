// @roomcore/client: the public API.

export { Client, type ClientOptions, type Session } from "./client.js";
export { GameSession, toWsUrl, type SeatRecord, type SessionEvents, type Sync, type SyncReason } from "./game.js";
export { RelayConnection, RELAY_ROOM, type RelayEvents } from "./relay.js";
export { HttpApi, type FetchLike } from "./http.js";
export { ClosedError, HttpError, ProtocolError, RoomcoreError, TimeoutError, parseRetryAfter } from "./errors.js";
export { backoffDelay, type BackoffOptions } from "./backoff.js";
export { Emitter, type EventMeta, type Handler } from "./emitter.js";
export { FatalError, type ConnState, type StateChange, type WebSocketCtor, type WebSocketLike } from "./socket.js";
export { defaultStore, memoryStore, JsonStore, type KeyValueStore } from "./storage.js";
export * from "./protocol.js";
