// Exponential backoff with jitter for reconnection attempts.

export interface BackoffOptions {
  /** Delay of the first retry (ms). Default 250. */
  initialMs?: number;
  /** Longest delay (ms). Default 10000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay that is random, 0..1 (0.5: between half and all of it). Default 0.5. */
  jitter?: number;
}

/** The delay before retry number `attempt` (0-based): `min(max, initial * factor^attempt)`, of
 * which the `jitter` fraction is drawn at random (so clients that dropped together spread out). */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 250;
  const max = o.maxMs ?? 10_000;
  const factor = o.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(base * (1 - jitter * random()));
}
