// Typed errors of the library: HTTP errors built from `{"error": ...}` bodies, protocol errors
// built from `{"type":"error","code":...}` answers, time-outs and closed connections.

import type { ErrorCode } from "./protocol.js";

/** Base class of every error this library throws. */
export class RoomcoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A non-2xx HTTP answer. */
export class HttpError extends RoomcoreError {
  /** HTTP status code. */
  readonly status: number;
  /** Seconds to wait before retrying (`Retry-After`), when the server sent one. */
  readonly retryAfter?: number;
  /** `X-Request-Id` of the answer (for support and logs). */
  readonly requestId?: string;
  constructor(status: number, message: string, retryAfter?: number, requestId?: string) {
    super(message);
    this.status = status;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
    if (requestId !== undefined) this.requestId = requestId;
  }
}

/** An `error` answer of the game protocol (the socket stays open). */
export class ProtocolError extends RoomcoreError {
  readonly code: ErrorCode;
  readonly seq: number | null;
  constructor(code: ErrorCode, message: string, seq: number | null = null) {
    super(message);
    this.code = code;
    this.seq = seq;
  }
}

/** No answer within the request's time-out. */
export class TimeoutError extends RoomcoreError {}

/** The connection closed (or was closed with `close()`) before the answer came. */
export class ClosedError extends RoomcoreError {}

/** Parse `Retry-After` (delta-seconds or an HTTP date) into seconds. */
export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | undefined {
  if (v == null || v.trim() === "") return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const at = Date.parse(t);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
