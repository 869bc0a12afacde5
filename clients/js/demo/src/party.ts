// The party game room: claim a slot, the owner starts (and pauses, resumes, resets), the
// player of the active slot ends the turn ("switch"); the server moves the turn on when the
// timer runs out. Every change arrives as a `party` event carrying the whole game.

import type { PartyGameState, PartyRoomState, RoomEventMessage, RoomState } from "../../src/index.js";
import { isPartyRoom } from "../../src/index.js";
import { button, errText, fmtClock, h, unescapeName } from "./dom.js";
import type { Ctx, RoomView } from "./main.js";

type Action = "start" | "switch" | "pause" | "resume" | "reset";

export class PartyView implements RoomView {
  readonly room: string;
  readonly el: HTMLElement;
  private state: PartyRoomState;
  private game: PartyGameState;
  private at = performance.now();
  private slots = h("ol", { class: "slots", "data-test": "slots" });
  private status = h("p", { class: "status", "data-test": "party-status" });
  private controls = h("p", { class: "actions" });
  private log = h("ul", { class: "party-log muted" });
  private ticker: ReturnType<typeof setInterval>;

  constructor(
    private readonly ctx: Ctx,
    state: RoomState,
  ) {
    this.room = state.room;
    this.state = state as PartyRoomState;
    this.game = this.state.game;
    this.el = h(
      "section",
      { class: "card party", "data-test": "party-room", "data-room": state.room },
      h("h2", {}, unescapeName(state.name), " ", h("span", { class: "muted room-id" }, state.room)),
      this.status,
      this.slots,
      this.controls,
      this.log,
    );
    this.ticker = setInterval(() => this.renderStatus(), 250);
    this.setState(state);
  }

  setState(state: RoomState): void {
    if (!isPartyRoom(state)) return;
    this.state = state;
    this.game = state.game;
    this.at = performance.now();
    this.render();
  }

  onEvent(ev: RoomEventMessage): void {
    if (ev.type === "party") {
      this.game = ev.game;
      this.at = performance.now();
      const who = ev.by !== undefined ? this.nameOf(ev.by) : ev.slot !== undefined ? `slot ${ev.slot + 1}` : "";
      this.note(`${ev.action.replace(/_/g, " ")}${who ? ` · ${who}` : ""}`);
    } else if (ev.type === "player_joined") {
      this.note(`${unescapeName(ev.name)} joined`);
    } else if (ev.type === "player_disconnected") {
      this.note(`slot ${ev.seat + 1} disconnected (held ${Math.round(ev.grace_ms / 1000)} s)`);
    } else {
      return;
    }
    this.render();
  }

  destroy(): void {
    clearInterval(this.ticker);
  }

  private nameOf(user: number): string {
    const s = this.game.slots.find((x) => x.user === user);
    return s?.name ? unescapeName(s.name) : user === this.ctx.me.id ? "you" : `player ${user}`;
  }

  private note(t: string): void {
    this.log.prepend(h("li", {}, t));
    while (this.log.childElementCount > 8) this.log.lastElementChild?.remove();
  }

  private act(type: Action): () => void {
    return () => {
      this.ctx.session.request({ type }).catch((err) => this.ctx.notify(errText(err), "error"));
    };
  }

  private render(): void {
    const g = this.game;
    const me = this.ctx.me.id;
    const mine = g.slots.findIndex((s) => s.user === me);
    const owner = g.owner === me;
    this.slots.replaceChildren(
      ...g.slots.map((s, i) => {
        const cls = ["slot"];
        if (g.phase !== "lobby" && g.active === i && !s.out) cls.push("active");
        if (s.out) cls.push("out");
        if (s.user === me) cls.push("mine");
        const label = s.user === null ? "(open)" : unescapeName(s.name) + (s.user === me ? " (you)" : "");
        const claim =
          s.user === null && mine < 0 && g.phase === "lobby"
            ? button(
                "Claim",
                () => {
                  this.ctx.session.request({ type: "claim_slot", slot: i }).catch((err) => this.ctx.notify(errText(err), "error"));
                },
                { "data-test": `claim-${i}` },
              )
            : null;
        return h(
          "li",
          { class: cls.join(" "), "data-slot": i },
          h("span", { class: "rname" }, label),
          h("span", { class: "muted" }, `${s.turns} turns${s.out ? " · out" : ""}${g.winner === i ? " · winner" : ""}`),
          claim,
        );
      }),
    );
    const items: HTMLElement[] = [];
    if (mine >= 0 && g.phase === "running" && g.active === mine) {
      items.push(button("End my turn", this.act("switch"), { class: "primary", "data-test": "switch" }));
    }
    if (owner) {
      if (g.phase === "lobby") items.push(button("Start", this.act("start"), { class: "primary", "data-test": "start" }));
      if (g.phase === "running") items.push(button("Pause", this.act("pause"), { "data-test": "pause" }));
      if (g.phase === "paused") items.push(button("Resume", this.act("resume"), { "data-test": "resume" }));
      if (g.phase !== "lobby") items.push(button("Reset", this.act("reset"), { "data-test": "reset" }));
    }
    this.controls.replaceChildren(...items);
    this.renderStatus();
  }

  private renderStatus(): void {
    const g = this.game;
    const active = g.slots[g.active];
    const who = active?.user === this.ctx.me.id ? "your" : `${unescapeName(active?.name) || `slot ${g.active + 1}`}'s`;
    let t: string;
    switch (g.phase) {
      case "lobby":
        t = `Lobby: claim a slot; the owner starts with 2 or more players (${g.settings.turn_secs} s turns).`;
        break;
      case "running": {
        const left = (g.turn_left_ms ?? 0) - (performance.now() - this.at);
        t = `Round ${g.round + 1}: ${who} turn · ${fmtClock(left)}`;
        break;
      }
      case "paused":
        t = `Paused (${who} turn, ${fmtClock(g.turn_left_ms ?? 0)} left)`;
        break;
      case "finished": {
        const w = g.winner !== null ? g.slots[g.winner] : undefined;
        t = `Finished: ${w ? unescapeName(w.name) : "nobody"} wins`;
        break;
      }
    }
    this.status.textContent = t;
    this.status.dataset["phase"] = g.phase;
  }
}
