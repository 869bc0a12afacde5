// Start the real roomcore binary for the tests: `--listen 127.0.0.1:PORT --shards 2
// --data-dir DIR`, per-IP limits off (as engine/tests/common/mod.rs does), and wait for
// `/ready`. The binary is $ROOMCORE_BIN, else target/debug/roomcore of the workspace.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
/** The workspace root (this file is clients/js/build/test/support/server.js once built). */
export const ROOT = resolve(here, "../../../../..");
export const BIN = process.env["ROOMCORE_BIN"] ?? join(ROOT, "target", "debug", "roomcore");

/** Limits off unless a test turns one on. */
const TEST_ENV: Record<string, string> = {
  LOG_LEVEL: "warn",
  MAX_CONNS_PER_IP: "0",
  MAX_TOTAL_CONNECTIONS: "0",
  WS_MAX_MSGS_PER_SEC: "0",
  MAX_MSGS_PER_10S: "0",
  MAX_BYTES_PER_10S: "0",
  MAX_ROOM_CREATES_PER_IP_PER_MIN: "0",
  HTTP_API_RATE_PER_MIN: "0",
  HTTP_AUTH_RATE_PER_MIN: "0",
  PASSWORD_HASH_MEMORY_KIB: "1024",
  PASSWORD_HASH_ITERATIONS: "1",
  SHUTDOWN_DRAIN_SECS: "3",
};

export interface Server {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** SIGTERM (graceful drain) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `roomcore-js-${tag}-`));
}

/** A free TCP port on 127.0.0.1 (for a restart on the same address). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export async function startServer(o: { dataDir?: string; port?: number; env?: Record<string, string> } = {}): Promise<Server> {
  const dataDir = o.dataDir ?? tempDir("data");
  const child = spawn(BIN, ["--listen", `127.0.0.1:${o.port ?? 0}`, "--shards", "2", "--data-dir", dataDir], {
    env: { ...process.env, ...TEST_ENV, ...(o.env ?? {}) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const first = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const onExit = (code: number | null) => rej(new Error(`roomcore exited with ${code} before listening`));
    child.once("exit", onExit);
    rl.once("line", (line) => {
      child.off("exit", onExit);
      // keep draining stdout so the child never blocks on a full pipe
      rl.on("line", () => undefined);
      res(line);
    });
  });
  const m = /roomcore listening on (\S+):(\d+)/.exec(first);
  if (!m) throw new Error(`unexpected first line: ${first}`);
  const port = Number(m[2]);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/ready`);
      if (r.status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error("server never became ready");
    await sleep(25);
  }
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return {
    url,
    port,
    dataDir,
    child,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` until it holds (or fail after `ms`). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
