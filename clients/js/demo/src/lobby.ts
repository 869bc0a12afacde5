// The lobby: the room list (refreshed every few seconds), creating a chess or party room,
// "play now" (matchmaking), the chess leaderboard, and the lobby chat.

import type { RoomSummary } from "../../src/index.js";
import { ChatPanel } from "./chat.js";
import { button, errText, h, unescapeName } from "./dom.js";
import type { Ctx } from "./main.js";

export class Lobby {
  readonly el: HTMLElement;
  private list = h("ul", { class: "rooms", "data-test": "rooms" });
  private board = h("ol", { class: "leaders", "data-test": "leaderboard" });
  private queueBtn: HTMLButtonElement;
  private queueStatus = h("span", { class: "muted", "data-test": "queue-status" });
  private queued = false;
  private timer: ReturnType<typeof setInterval>;
  private chat: ChatPanel;

  constructor(private readonly ctx: Ctx) {
    const name = h("input", {
      type: "text",
      maxlength: 32,
      required: true,
      value: `${unescapeName(ctx.me.name)}'s room`,
      "aria-label": "room name",
      "data-test": "room-name",
    });
    const kind = h(
      "select",
      { "aria-label": "game", "data-test": "room-kind" },
      h("option", { value: "chess" }, "Chess (5+2)"),
      h("option", { value: "party" }, "Party game (4 slots)"),
    );
    const form = h("form", { class: "create" }, name, kind, h("button", { type: "submit", class: "primary", "data-test": "create" }, "Create room"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (!n) return;
      const req =
        kind.value === "party"
          ? ctx.session.createRoom({ type: "create_room", kind: "party", name: n })
          : ctx.session.createRoom({ type: "create_room", kind: "chess", name: n });
      req.catch((err) => ctx.notify(errText(err), "error"));
    });
    this.queueBtn = button("Play now", () => this.toggleQueue(), { class: "primary", "data-test": "play-now" });
    this.chat = new ChatPanel(ctx.client, "lobby", ctx.me.name);
    this.el = h(
      "div",
      { class: "lobby", "data-test": "lobby" },
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Rooms"),
        form,
        h("p", { class: "actions" }, this.queueBtn, " ", this.queueStatus),
        this.list,
        button("Refresh", () => this.refresh(), { class: "link" }),
      ),
      h("section", { class: "card" }, h("h2", {}, "Chess leaderboard"), this.board),
      h("section", { class: "card" }, this.chat.el),
    );
    this.refresh();
    this.loadBoard();
    this.timer = setInterval(() => this.refresh(), 4000);
  }

  /** Matchmaking found a room (the app joins it). */
  matched(): void {
    this.queued = false;
    this.queueStatus.textContent = "Match found!";
  }

  destroy(): void {
    clearInterval(this.timer);
    this.chat.close();
    if (this.queued) this.ctx.session.request({ type: "cancel_queue" }).catch(() => undefined);
  }

  private toggleQueue(): void {
    const s = this.ctx.session;
    if (this.queued) {
      s.request({ type: "cancel_queue" }).then(
        () => {
          this.queued = false;
          this.queueBtn.textContent = "Play now";
          this.queueStatus.textContent = "";
        },
        (err) => this.ctx.notify(errText(err), "error"),
      );
      return;
    }
    s.request({ type: "queue", mode: "chess" }).then(
      () => {
        this.queued = true;
        this.queueBtn.textContent = "Cancel";
        this.queueStatus.textContent = "Looking for an opponent…";
      },
      (err) => this.ctx.notify(errText(err), "error"),
    );
  }

  private refresh(): void {
    this.ctx.session.listRooms().then(
      (r) => this.renderRooms(r.rooms),
      () => undefined,
    );
  }

  private renderRooms(rooms: RoomSummary[]): void {
    if (rooms.length === 0) {
      this.list.replaceChildren(h("li", { class: "muted" }, "No rooms yet: create one."));
      return;
    }
    const sorted = [...rooms].sort((a, b) => a.room.localeCompare(b.room));
    this.list.replaceChildren(
      ...sorted.map((r) => {
        const full = r.seated >= r.seats;
        const join = button(r.kind === "chess" && full ? "Watch" : "Join", () => this.join(r.room, r.kind === "chess" && full), {
          "data-test": `join-${r.room}`,
        });
        const watch = r.kind === "chess" && !full ? button("Watch", () => this.join(r.room, true), { class: "link", "data-test": `watch-${r.room}` }) : null;
        return h(
          "li",
          { "data-room": r.room },
          h("span", { class: `kind ${r.kind}` }, r.kind === "chess" ? "♞\uFE0E" : "✦"),
          h("span", { class: "rname" }, unescapeName(r.name)),
          h("span", { class: "muted" }, `${r.seated}/${r.seats} seated · ${r.members} in room${r.in_progress ? " · playing" : ""}`),
          join,
          watch,
        );
      }),
    );
  }

  private join(room: string, spectate: boolean): void {
    this.ctx.session.joinRoom(room, spectate ? "spectator" : "player").catch((err) => this.ctx.notify(errText(err), "error"));
  }

  private loadBoard(): void {
    this.ctx.client.http.leaderboard("chess", { limit: 10 }).then(
      (b) => {
        if (b.entries.length === 0) {
          this.board.replaceChildren(h("li", { class: "muted" }, "No rated games yet."));
          return;
        }
        this.board.replaceChildren(
          ...b.entries.map((e) => h("li", {}, h("span", {}, unescapeName(e.player)), h("span", { class: "score" }, e.score))),
        );
      },
      (err) => this.board.replaceChildren(h("li", { class: "muted" }, errText(err))),
    );
  }
}
