// Unit tests of the pure parts: backoff, Retry-After, URLs, errors from HTTP bodies, storage.

import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, Client, HttpError, JsonStore, memoryStore, parseRetryAfter, toWsUrl } from "../../src/index.js";

test("backoff grows exponentially to the cap, with the jitter fraction random", () => {
  const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([0, 1, 2, 3, 4].map((a) => backoffDelay(a, o, () => 1)), [50, 100, 200, 400, 500]);
  assert.equal(backoffDelay(2, { ...o, jitter: 0 }, () => 0.9), 400);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, o);
    assert.ok(d >= 400 && d <= 800, String(d));
  }
});

test("Retry-After in seconds and as a date", () => {
  assert.equal(parseRetryAfter("7"), 7);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Tue, 01 Jan 2030 00:00:30 GMT", now), 30);
});

test("WebSocket URLs from base URLs", () => {
  assert.equal(toWsUrl("http://localhost:8080"), "ws://localhost:8080/ws");
  assert.equal(toWsUrl("https://game.example/"), "wss://game.example/ws");
  assert.equal(toWsUrl("wss://node-2.example/ws"), "wss://node-2.example/ws");
});

test("HTTP errors carry status, message and Retry-After from the body and headers", async () => {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    if (url.endsWith("/api/scores")) {
      return new Response(JSON.stringify({ error: "storage is busy, retry later" }), {
        status: 503,
        headers: { "Retry-After": "2", "X-Request-Id": "r-1" },
      });
    }
    if (url.endsWith("/api/auth/guest")) {
      return new Response(
        JSON.stringify({ token: "rc1.x", token_type: "Bearer", expires_at: 4102444800, user: { id: 5, username: "guest-1", guest: true } }),
        { status: 201 },
      );
    }
    return new Response("not json", { status: 500 });
  };
  const store = memoryStore();
  const c = new Client("http://h:1/", { fetch, storage: store });
  await assert.rejects(c.http.postScore("chess", 1), (e: unknown) => e instanceof HttpError && e.status === 401);
  const s = await c.guest();
  assert.equal(s.user.id, 5);
  assert.equal(c.token, "rc1.x");
  const err = await c.http.postScore("flappy", 3).then(
    () => assert.fail("no error"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HttpError);
  assert.equal(err.status, 503);
  assert.equal(err.message, "storage is busy, retry later");
  assert.equal(err.retryAfter, 2);
  assert.equal(err.requestId, "r-1");
  const last = calls[calls.length - 1];
  assert.equal(last?.url, "http://h:1/api/scores");
  assert.equal((last?.init?.headers as Record<string, string>)["Authorization"], "Bearer rc1.x");
  assert.equal(last?.init?.body, JSON.stringify({ game: "flappy", score: 3 }));
  await assert.rejects(c.http.getGame("x"), (e: unknown) => e instanceof HttpError && e.status === 500 && e.message === "HTTP 500");
  // The sign-in is kept in the store and reused by a new client (a reloaded page).
  const again = new Client("http://h:1", { fetch, storage: store });
  assert.equal(again.token, "rc1.x");
  const n = calls.length;
  await again.guest();
  assert.equal(calls.length, n, "a stored guest sign-in is reused");
});

test("the JSON store namespaces keys and survives garbage", () => {
  const raw = memoryStore();
  const s = new JsonStore(raw, "p:");
  s.set("a", { x: 1 });
  assert.equal(raw.getItem("p:a"), '{"x":1}');
  assert.deepEqual(s.get("a"), { x: 1 });
  raw.setItem("p:b", "{broken");
  assert.equal(s.get("b"), null);
  s.remove("a");
  assert.equal(s.get("a"), null);
});
