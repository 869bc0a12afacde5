// The chess room: a board (click a piece then a square, or drag it), both clocks, the move
// list, draw and resign buttons, the PGN at the end, and spectating. Moves go to the server;
// the board changes only when the server's `move` event comes, and a refused move is shown
// as refused (the server is the referee, the page knows no rules).

import type { ChessGameState, ChessRoomState, RoomEventMessage, RoomState, Side } from "../../src/index.js";
import { isChessRoom } from "../../src/index.js";
import { ProtocolError } from "../../src/index.js";
import { button, errText, fmtClock, h, unescapeName } from "./dom.js";
import type { Ctx, RoomView } from "./main.js";

const GLYPH: Record<string, string> = { k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
const FILES = "abcdefgh";

/** Pieces by square (`e4` -> `P`) from the board part of a FEN. */
export function parseFen(fen: string): Map<string, string> {
  const out = new Map<string, string>();
  const rows = (fen.split(" ")[0] ?? "").split("/");
  rows.forEach((row, i) => {
    let file = 0;
    for (const c of row) {
      if (/\d/.test(c)) file += Number(c);
      else {
        out.set(`${FILES[file]}${8 - i}`, c);
        file += 1;
      }
    }
  });
  return out;
}

export class ChessView implements RoomView {
  readonly room: string;
  readonly el: HTMLElement;
  private state: ChessRoomState;
  private game: ChessGameState;
  private clockAt = performance.now();
  private selected: string | null = null;
  private drag: { from: string; ghost: HTMLElement; moved: boolean } | null = null;
  private lastMove: string | null = null;
  private over: { result: string; reason: string; pgn: string } | null = null;
  private boardEl = h("div", { class: "board", role: "grid", "aria-label": "chess board", "data-test": "board" });
  private status = h("p", { class: "status", "data-test": "status" });
  private moves = h("ol", { class: "moves", "data-test": "moves" });
  private clocks: Record<Side, HTMLElement> = {
    white: h("div", { class: "clock", "data-test": "clock-white" }),
    black: h("div", { class: "clock", "data-test": "clock-black" }),
  };
  private controls = h("p", { class: "actions" });
  private endBox = h("div", { class: "end", hidden: true, "data-test": "end" });
  private promo = h(
    "select",
    { "aria-label": "promote to", "data-test": "promotion" },
    h("option", { value: "q" }, "♛ queen"),
    h("option", { value: "r" }, "♜ rook"),
    h("option", { value: "b" }, "♝ bishop"),
    h("option", { value: "n" }, "♞ knight"),
  );
  private ticker: ReturnType<typeof setInterval>;

  constructor(
    private readonly ctx: Ctx,
    state: RoomState,
  ) {
    this.room = state.room;
    this.state = state as ChessRoomState;
    this.game = this.state.game;
    this.el = h(
      "section",
      { class: "card chess", "data-test": "chess-room", "data-room": state.room },
      h("h2", {}, unescapeName(state.name), " ", h("span", { class: "muted room-id" }, state.room)),
      this.clocks.black,
      this.boardEl,
      this.clocks.white,
      this.status,
      this.controls,
      this.endBox,
      h("details", { open: true }, h("summary", {}, "Moves"), this.moves),
    );
    this.boardEl.addEventListener("pointerdown", (e) => this.pointerDown(e));
    this.boardEl.addEventListener("pointermove", (e) => this.pointerMove(e));
    this.boardEl.addEventListener("pointerup", (e) => this.pointerUp(e));
    this.boardEl.addEventListener("pointercancel", () => this.cancelDrag());
    this.ticker = setInterval(() => this.renderClocks(), 200);
    this.setState(state);
  }

  /** My side, or null for a spectator. */
  private get side(): Side | null {
    const me = this.ctx.session.seatInfo;
    if (!me || me.room !== this.room || me.seat === null) return null;
    return me.seat === 0 ? "white" : "black";
  }

  setState(state: RoomState): void {
    if (!isChessRoom(state)) return;
    this.state = state;
    this.game = state.game;
    this.clockAt = performance.now();
    const uci = state.game.uci;
    this.lastMove = uci.length ? (uci[uci.length - 1] as string) : null;
    if (state.game.result && state.game.reason && !this.over) {
      this.ctx.client.http.getGame(state.room).then(
        (g) => {
          if (g.status === "finished") this.showEnd(g.result, g.reason, g.pgn);
        },
        () => undefined,
      );
    }
    this.render();
  }

  onEvent(ev: RoomEventMessage): void {
    const g = this.game;
    switch (ev.type) {
      case "game_started":
        // A chess room's game is a ChessView (the server types it as either kind's view).
        this.game = ev.game as ChessGameState;
        this.state.seats = this.state.seats.map((s, i) => {
          const u = i === 0 ? ev.white : ev.black;
          return u && s.free ? { seat: i, free: false, user_id: u.id, name: u.name, connected: true, held_ms: null } : s;
        });
        break;
      case "move":
        g.fen = ev.fen;
        g.moves = [...g.moves, ev.san];
        g.uci = [...g.uci, ev.uci];
        g.turn = ev.by === "white" ? "black" : "white";
        g.clocks = ev.clocks;
        g.draw_offer = null;
        this.lastMove = ev.uci;
        break;
      case "draw_offered":
        g.draw_offer = ev.by;
        break;
      case "draw_declined":
        g.draw_offer = null;
        break;
      case "game_over":
        g.result = ev.result;
        g.reason = ev.reason;
        this.showEnd(ev.result, ev.reason, ev.pgn);
        break;
      case "player_joined":
        if (ev.seat !== null) {
          this.state.seats[ev.seat] = { seat: ev.seat, free: false, user_id: ev.user_id, name: ev.name, connected: true, held_ms: null };
        }
        this.state.members += 1;
        break;
      case "player_disconnected":
      case "player_reconnected": {
        const s = this.state.seats[ev.seat];
        if (s && !s.free) s.connected = ev.type === "player_reconnected";
        break;
      }
      case "seat_freed":
        this.state.seats[ev.seat] = { seat: ev.seat, free: true, reserved: false };
        break;
      default:
        return;
    }
    this.clockAt = performance.now();
    this.render();
  }

  destroy(): void {
    clearInterval(this.ticker);
    this.cancelDrag();
  }

  private name(i: number): string {
    const s = this.state.seats[i];
    if (!s || s.free) return "(free seat)";
    return unescapeName(s.name) + (s.connected ? "" : " (disconnected)");
  }

  private render(): void {
    const side = this.side;
    const flip = side === "black";
    this.el.classList.toggle("flipped", flip);
    this.el.dataset["side"] = side ?? "spectator";
    const pieces = parseFen(this.game.fen);
    const cells: HTMLElement[] = [];
    for (let r = 0; r < 8; r++) {
      for (let f = 0; f < 8; f++) {
        const file = flip ? 7 - f : f;
        const rank = flip ? r + 1 : 8 - r;
        const sq = `${FILES[file]}${rank}`;
        const p = pieces.get(sq);
        const cls = ["sq", (file + rank) % 2 === 0 ? "dark" : "light"];
        if (this.lastMove && (this.lastMove.startsWith(sq) || this.lastMove.slice(2, 4) === sq)) cls.push("last");
        if (this.selected === sq) cls.push("sel");
        const cell = h("div", { class: cls.join(" "), role: "gridcell", "data-square": sq, "aria-label": sq });
        if (p) {
          const white = p === p.toUpperCase();
          cell.append(h("span", { class: `piece ${white ? "w" : "b"}`, "data-piece": p }, (GLYPH[p.toLowerCase()] ?? "?") + "\uFE0E"));
        }
        if (f === 0) cell.append(h("span", { class: "coord rank" }, rank));
        if (r === 7) cell.append(h("span", { class: "coord file" }, FILES[file] as string));
        cells.push(cell);
      }
    }
    this.boardEl.replaceChildren(...cells);
    this.renderClocks();
    this.renderStatus(side);
    this.renderControls(side);
    this.moves.replaceChildren(
      ...chunk(this.game.moves, 2).map((pair, i) => h("li", { value: i + 1 }, pair.join("  "))),
    );
    this.moves.scrollTop = this.moves.scrollHeight;
  }

  private renderStatus(side: Side | null): void {
    const g = this.game;
    let t: string;
    if (g.result) t = `Game over: ${g.result} (${(g.reason ?? "").replace(/_/g, " ")})`;
    else if (!g.started) t = "Waiting for an opponent…";
    else if (side === null) t = `Watching: ${g.turn} to move`;
    else t = g.turn === side ? "Your move" : "Opponent's move";
    if (!g.result && g.draw_offer) t += ` · ${g.draw_offer} offers a draw`;
    this.status.textContent = t;
    this.status.dataset["turn"] = g.turn;
  }

  private renderClocks(): void {
    const g = this.game;
    const running = g.started && !g.result;
    const spent = running ? performance.now() - this.clockAt : 0;
    for (const s of ["white", "black"] as const) {
      const left = g.clocks[s] - (s === g.turn ? spent : 0);
      const el = this.clocks[s];
      el.replaceChildren(h("span", { class: "who" }, this.name(s === "white" ? 0 : 1)), h("span", { class: "time" }, fmtClock(left)));
      el.classList.toggle("active", running && s === g.turn);
      el.classList.toggle("low", left < 20_000);
    }
  }

  private renderControls(side: Side | null): void {
    const g = this.game;
    if (side === null || g.result) {
      this.controls.replaceChildren(side === null ? h("span", { class: "muted", "data-test": "spectating" }, "You are watching this game.") : "");
      return;
    }
    const act = (type: "resign" | "offer_draw" | "accept_draw" | "decline_draw") => () => {
      this.ctx.session.request({ type }).catch((err) => this.ctx.notify(errText(err), "error"));
    };
    const items: (HTMLElement | string)[] = [];
    if (g.started) {
      if (g.draw_offer && g.draw_offer !== side) {
        items.push(button("Accept draw", act("accept_draw"), { "data-test": "accept-draw" }), button("Decline", act("decline_draw")));
      } else if (!g.draw_offer) {
        items.push(button("Offer draw", act("offer_draw"), { "data-test": "offer-draw" }));
      }
      items.push(button("Resign", act("resign"), { class: "danger", "data-test": "resign" }));
    }
    items.push(h("label", { class: "muted" }, "Promote to ", this.promo));
    this.controls.replaceChildren(...items);
  }

  private showEnd(result: string, reason: string, pgn: string): void {
    this.over = { result, reason, pgn };
    const side = this.side;
    const won = (result === "1-0" && side === "white") || (result === "0-1" && side === "black");
    const lost = (result === "1-0" && side === "black") || (result === "0-1" && side === "white");
    const verdict = side === null ? result : won ? "You won" : lost ? "You lost" : "Draw";
    this.endBox.hidden = false;
    this.endBox.replaceChildren(
      h("h3", { "data-test": "result" }, `${verdict} · ${result} · ${reason.replace(/_/g, " ")}`),
      h("pre", { class: "pgn", "data-test": "pgn" }, pgn),
    );
  }

  // --- input: click-click or drag -------------------------------------------------------------

  private squareAt(x: number, y: number): string | null {
    const el = document.elementFromPoint(x, y)?.closest("[data-square]");
    return el instanceof HTMLElement ? (el.dataset["square"] ?? null) : null;
  }

  private mine(sq: string): boolean {
    const side = this.side;
    const p = parseFen(this.game.fen).get(sq);
    if (!p || !side) return false;
    return (p === p.toUpperCase()) === (side === "white");
  }

  private pointerDown(e: PointerEvent): void {
    const sq = this.squareAt(e.clientX, e.clientY);
    if (!sq || this.side === null || this.game.result) return;
    if (this.selected && this.selected !== sq && !this.mine(sq)) {
      const from = this.selected;
      this.selected = null;
      this.tryMove(from, sq);
      return;
    }
    if (!this.mine(sq)) return;
    e.preventDefault();
    const piece = this.boardEl.querySelector(`[data-square="${sq}"] .piece`);
    const ghost = h("span", { class: "piece ghost" }, piece?.textContent ?? "");
    if (piece?.classList.contains("w")) ghost.classList.add("w");
    else ghost.classList.add("b");
    this.drag = { from: sq, ghost, moved: false };
    this.boardEl.setPointerCapture(e.pointerId);
    this.selected = sq;
    this.render();
  }

  private pointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    if (!d.moved) {
      d.moved = true;
      document.body.append(d.ghost);
    }
    d.ghost.style.left = `${e.clientX}px`;
    d.ghost.style.top = `${e.clientY}px`;
  }

  private pointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    this.cancelDrag();
    const to = this.squareAt(e.clientX, e.clientY);
    if (to && to !== d.from) {
      this.selected = null;
      this.tryMove(d.from, to);
    }
  }

  private cancelDrag(): void {
    this.drag?.ghost.remove();
    this.drag = null;
  }

  private tryMove(from: string, to: string): void {
    const p = parseFen(this.game.fen).get(from);
    const promotes = (p === "P" && to.endsWith("8")) || (p === "p" && to.endsWith("1"));
    const uci = `${from}${to}${promotes ? this.promo.value : ""}`;
    this.render();
    this.ctx.session.move(uci).catch((err) => {
      const why = err instanceof ProtocolError ? err.message : errText(err);
      this.status.textContent = `Refused ${uci}: ${why}`;
      this.status.classList.add("refused");
      this.boardEl.classList.add("refused");
      this.boardEl.dataset["refused"] = uci;
      setTimeout(() => {
        this.status.classList.remove("refused");
        this.boardEl.classList.remove("refused");
      }, 1500);
    });
  }
}

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
