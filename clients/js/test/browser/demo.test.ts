// The demo at / in headless Chromium: two guests play fool's mate (clicks and a drag), a third
// watches, a reload mid-game keeps the seat (token and seat in localStorage), an illegal move is
// shown as refused, the relay chat delivers between pages, and the page runs under its CSP
// without a violation. Screenshots go to target/test-artifacts/js/.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, afterEach, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { ARTIFACTS, launch } from "../support/browser.js";
import { removeDir, startServer, type Server } from "../support/server.js";

let srv: Server;
let browser: Browser;
const problems: string[] = [];
const pages = new Map<string, Page>();

before(async () => {
  srv = await startServer();
  browser = await launch();
});
afterEach(async (t) => {
  // A failed test leaves a screenshot of every page it opened.
  if ((t as unknown as { passed?: boolean }).passed === false) {
    for (const [name, p] of pages) await p.screenshot({ path: join(ARTIFACTS, `failed-${name}.png`) }).catch(() => undefined);
  }
  pages.clear();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
  if (srv) removeDir(srv.dataDir);
});

async function page(name: string, viewport = { width: 1100, height: 820 }): Promise<Page> {
  const ctx = await browser.newContext({ viewport });
  const p = await ctx.newPage();
  pages.set(name, p);
  p.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  p.on("console", (m) => {
    if (m.type() === "error" || /Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`${name}: console ${m.type()}: ${m.text()}`);
  });
  await p.goto(srv.url + "/");
  return p;
}

async function signIn(p: Page): Promise<string> {
  await p.click("[data-test=guest]");
  await p.waitForSelector("[data-test=lobby]");
  await p.waitForSelector("#conn[data-state=connected]");
  return (await p.textContent("[data-test=me]")) ?? "";
}

const sq = (s: string) => `[data-test=board] [data-square=${s}]`;
async function clickMove(p: Page, from: string, to: string): Promise<void> {
  await p.click(sq(from));
  await p.click(sq(to));
}
/** The SAN moves shown in the move list, space-separated. */
async function moves(p: Page): Promise<string> {
  return p.evaluate(() =>
    [...document.querySelectorAll("[data-test=moves] li")]
      .map((li) => (li.textContent ?? "").trim())
      .join(" ")
      .replace(/\s+/g, " "),
  );
}
async function waitMoves(p: Page, n: number): Promise<void> {
  await p.waitForFunction(
    (k) => [...document.querySelectorAll("[data-test=moves] li")].map((li) => (li.textContent ?? "").trim()).join(" ").split(/\s+/).filter(Boolean).length >= k,
    n,
  );
}

test("two guests play fool's mate; a spectator watches; reload keeps the seat; chat; CSP holds", async () => {
  const white = await page("white");
  const black = await page("black", { width: 390, height: 844 });
  const watcher = await page("watcher");
  const nameW = await signIn(white);
  await signIn(black);
  await signIn(watcher);
  assert.match(nameW, /^guest-/);
  await white.screenshot({ path: join(ARTIFACTS, "lobby.png") });

  // White creates a chess room (and sits as white).
  await white.selectOption("[data-test=room-kind]", "chess");
  await white.click("[data-test=create]");
  const room = await white.getAttribute("[data-test=chess-room]", "data-room", { timeout: 5000 });
  assert.ok(room);
  assert.equal(await white.getAttribute("[data-test=chess-room]", "data-side"), "white");

  // Black finds it in the room list and joins; the game starts.
  await black.click("text=Refresh");
  await black.click(`[data-test="join-${room}"]`);
  await black.waitForSelector("[data-test=chess-room][data-side=black]");
  await white.waitForFunction(() => document.querySelector("[data-test=status]")?.textContent === "Your move");
  // The watcher joins as a spectator.
  await watcher.click("text=Refresh");
  await watcher.click(`[data-test="join-${room}"]`);
  await watcher.waitForSelector("[data-test=chess-room][data-side=spectator]");
  assert.match((await watcher.textContent("[data-test=spectating]")) ?? "", /watching/);

  // Both clocks show the time control.
  assert.match((await white.textContent("[data-test=clock-white]")) ?? "", /(5:00|4:5\d)$/);
  assert.match((await white.textContent("[data-test=clock-black]")) ?? "", /5:00/);

  // An illegal move is refused and the board does not change.
  await clickMove(white, "e1", "e3");
  await white.waitForSelector("[data-test=status].refused");
  assert.match((await white.textContent("[data-test=status]")) ?? "", /Refused e1e3: illegal move/);
  assert.equal(await moves(white), "");

  // 1. f3 e5 (clicks on both sides).
  await clickMove(white, "f2", "f3");
  await waitMoves(black, 1);
  await clickMove(black, "e7", "e5");
  await waitMoves(white, 2);
  await waitMoves(watcher, 2);
  assert.equal(await moves(watcher), "f3 e5");

  // White reloads mid-game: the seat comes back from localStorage.
  await white.reload();
  await white.waitForSelector("[data-test=chess-room][data-side=white]", { timeout: 10_000 });
  await waitMoves(white, 2);
  assert.equal(await moves(white), "f3 e5");
  assert.equal(await white.textContent("[data-test=status]"), "Your move");
  await white.screenshot({ path: join(ARTIFACTS, "board.png") });

  // Chat in the room's relay between the two players (and the watcher).
  await white.fill("[data-test=chat] [data-test=chat-input]", "good luck!");
  await white.click("[data-test=chat] [data-test=chat-send]");
  await black.waitForFunction(() => (document.querySelector("[data-test=chat-log]")?.textContent ?? "").includes("good luck!"));
  await watcher.waitForFunction(() => (document.querySelector("[data-test=chat-log]")?.textContent ?? "").includes("good luck!"));

  // 2. g4 Qh4# (black drags the queen).
  await clickMove(white, "g2", "g4");
  await waitMoves(black, 3);
  const from = await black.locator(sq("d8")).boundingBox();
  const to = await black.locator(sq("h4")).boundingBox();
  assert.ok(from && to);
  await black.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await black.mouse.down();
  await black.mouse.move(to.x + 5, to.y + 5, { steps: 5 });
  await black.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 3 });
  await black.mouse.up();

  for (const p of [white, black, watcher]) {
    await p.waitForSelector("[data-test=result]", { timeout: 5000 });
    assert.match((await p.textContent("[data-test=result]")) ?? "", /0-1 · checkmate/);
    const pgn = (await p.textContent("[data-test=pgn]")) ?? "";
    assert.match(pgn, /1\. f3 e5 2\. g4 Qh4# 0-1/);
    assert.match(pgn, /\[Result "0-1"\]/);
  }
  assert.match((await black.textContent("[data-test=result]")) ?? "", /You won/);
  assert.match((await white.textContent("[data-test=result]")) ?? "", /You lost/);
  await white.screenshot({ path: join(ARTIFACTS, "end.png") });
  await black.screenshot({ path: join(ARTIFACTS, "end-phone.png"), fullPage: true });

  // The finished game is on the HTTP API with the same PGN.
  const g = (await (await fetch(`${srv.url}/api/games/${room}`)).json()) as { status: string; pgn: string };
  assert.equal(g.status, "finished");
  assert.match(g.pgn, /Qh4#/);

  // Back in the lobby, the leaderboard has both players rated.
  await black.click("[data-test=leave]");
  await black.waitForSelector("[data-test=lobby]");
  await black.waitForFunction(() => document.querySelectorAll("[data-test=leaderboard] li .score").length >= 2);
  assert.deepEqual(problems, []);
});

test("the relay chat in the lobby delivers between two pages", async () => {
  const p1 = await page("chat1");
  const p2 = await page("chat2");
  await signIn(p1);
  await signIn(p2);
  await p2.waitForFunction(() => (document.querySelector("[data-test=chat] .chat-state")?.textContent ?? "x") === "");
  await p1.waitForFunction(() => (document.querySelector("[data-test=chat] .chat-state")?.textContent ?? "x") === "");
  await p1.fill("[data-test=chat-input]", "<b>hi</b> from one");
  await p1.click("[data-test=chat-send]");
  await p2.waitForFunction(() => (document.querySelector("[data-test=chat-log]")?.textContent ?? "").includes("<b>hi</b> from one"));
  assert.equal(await p2.locator("[data-test=chat-log] b:text('hi')").count(), 0, "shown as text, not markup");
  await p2.fill("[data-test=chat-input]", "hello back");
  await p2.press("[data-test=chat-input]", "Enter");
  await p1.waitForFunction(() => (document.querySelector("[data-test=chat-log]")?.textContent ?? "").includes("hello back"));
  assert.deepEqual(problems, []);
});

test("the party game: claim slots, start, take turns", async () => {
  const owner = await page("owner");
  const guest2 = await page("guest2", { width: 390, height: 844 });
  await signIn(owner);
  await signIn(guest2);
  await owner.selectOption("[data-test=room-kind]", "party");
  await owner.click("[data-test=create]");
  const room = await owner.getAttribute("[data-test=party-room]", "data-room", { timeout: 5000 });
  await owner.click("[data-test=claim-0]");
  await guest2.click("text=Refresh");
  await guest2.click(`[data-test="join-${room}"]`);
  await guest2.waitForSelector("[data-test=party-room]");
  await guest2.click("[data-test=claim-1]");
  await owner.waitForFunction(() => document.querySelectorAll("[data-test=slots] li.slot:not(:has(button))").length >= 2);
  await owner.click("[data-test=start]");
  await owner.waitForSelector("[data-test=party-status][data-phase=running]");
  await owner.click("[data-test=switch]");
  await guest2.waitForSelector("[data-test=switch]");
  assert.match((await guest2.textContent("[data-test=party-status]")) ?? "", /your turn/);
  await guest2.click("[data-test=switch]");
  await owner.waitForSelector("[data-test=switch]");
  await owner.click("[data-test=pause]");
  await guest2.waitForSelector("[data-test=party-status][data-phase=paused]");
  await guest2.screenshot({ path: join(ARTIFACTS, "party-phone.png"), fullPage: true });
  assert.deepEqual(problems, []);
});
