// Chat in a relay room: messages are JSON text `{"from": name, "text": ...}` relayed unchanged
// to the other members; they are shown as text only (a peer's message is untrusted input).

import type { Client, RelayConnection } from "../../src/index.js";
import { h, unescapeName } from "./dom.js";

const MAX_LINES = 200;

export class ChatPanel {
  readonly el: HTMLElement;
  private log = h("ol", { class: "chat-log", "aria-live": "polite", "data-test": "chat-log" });
  private relay: RelayConnection;

  constructor(client: Client, room: string, private readonly name: string) {
    const input = h("input", { type: "text", maxlength: 500, placeholder: "Say something", "aria-label": "message", "data-test": "chat-input" });
    const form = h("form", { class: "chat-form" }, input, h("button", { type: "submit", "data-test": "chat-send" }, "Send"));
    const state = h("span", { class: "muted chat-state" }, "connecting…");
    this.relay = client.relay(`chat-${room}`.slice(0, 64));
    this.relay.onState((s) => {
      state.textContent = s.state === "connected" || s.state === "reconnected" ? "" : s.state === "closed" ? "closed" : "connecting…";
      state.dataset["state"] = s.state;
    });
    this.relay.on("message", (data) => {
      if (typeof data !== "string") return;
      try {
        const m = JSON.parse(data) as { from?: unknown; text?: unknown };
        if (typeof m.text === "string") this.line(typeof m.from === "string" ? m.from : "?", m.text, false);
      } catch {
        // not ours: ignore
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      if (this.relay.send(JSON.stringify({ from: this.name, text }))) {
        this.line(this.name, text, true);
        input.value = "";
      } else {
        this.line("", "not connected: message not sent", true);
      }
    });
    this.el = h("div", { class: "chat", "data-test": "chat" }, h("h2", {}, "Chat ", state), this.log, form);
    this.relay.connect().catch(() => undefined);
  }

  close(): void {
    this.relay.close();
  }

  private line(from: string, text: string, mine: boolean): void {
    this.log.append(
      h("li", { class: mine ? "mine" : "" }, from ? h("b", {}, unescapeName(from.slice(0, 40)) + ": ") : null, text.slice(0, 500)),
    );
    while (this.log.childElementCount > MAX_LINES) this.log.firstElementChild?.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }
}
