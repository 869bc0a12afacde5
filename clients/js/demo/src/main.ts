// The demo app: sign in as a guest, the lobby, and a room view (chess or party game), all on
// the @roomcore/client library. Room changes arrive as `sync` (a full state: joined, resynced)
// and as events; a dropped socket is resumed by the library, a reload by the stored seat.

import { Client, ROOM_EVENT_TYPES, type GameSession, type RoomEventMessage, type RoomState, type StateChange } from "../../src/index.js";
import { ChatPanel } from "./chat.js";
import { ChessView } from "./chess.js";
import { button, errText, h, unescapeName } from "./dom.js";
import { Lobby } from "./lobby.js";
import { PartyView } from "./party.js";
import { tabPrefix } from "./tab.js";

/** What the views share. */
export interface Ctx {
  client: Client;
  session: GameSession;
  /** Account id and display name of this tab's player. */
  me: { id: number; name: string };
  /** Show a short message under the header. */
  notify(text: string, kind?: "info" | "error"): void;
  /** Back to the lobby (after leaving a room). */
  toLobby(): void;
}

/** A room view. */
export interface RoomView {
  readonly room: string;
  readonly el: HTMLElement;
  setState(state: RoomState): void;
  onEvent(ev: RoomEventMessage, replayed: boolean): void;
  destroy(): void;
}

const app = document.getElementById("app") as HTMLElement;
const connEl = document.getElementById("conn") as HTMLElement;
const meEl = document.getElementById("me") as HTMLElement;
const client = new Client(location.origin, { storagePrefix: tabPrefix() });
let session: GameSession | null = null;
let current: { view: RoomView; chat: ChatPanel } | null = null;
let lobby: Lobby | null = null;
let notice: HTMLElement | null = null;

const STATE_LABEL: Record<StateChange["state"], string> = {
  idle: "offline",
  connecting: "connecting…",
  connected: "online",
  disconnected: "reconnecting…",
  reconnected: "online",
  closed: "offline",
};

function notify(text: string, kind: "info" | "error" = "info"): void {
  notice?.remove();
  notice = h("p", { class: `notice ${kind}`, role: "status", "data-test": "notice" }, text);
  app.prepend(notice);
  const mine = notice;
  setTimeout(() => {
    if (notice === mine) {
      mine.remove();
      notice = null;
    }
  }, 6000);
}

function signInScreen(): void {
  const status = h("p", { class: "muted" });
  const go = button(
    "Play as guest",
    () => {
      go.disabled = true;
      status.textContent = "Signing in…";
      client.guest().then(start, (err) => {
        go.disabled = false;
        status.textContent = errText(err);
      });
    },
    { class: "primary", "data-test": "guest" },
  );
  app.replaceChildren(
    h(
      "section",
      { class: "card signin" },
      h("h1", {}, "Chess, a party game and chat"),
      h("p", {}, "A demo of the roomcore server. Sign in as a guest to see the rooms, play chess or the party game, and chat."),
      go,
      status,
    ),
  );
}

function start(): void {
  const user = client.user;
  if (!user) return signInScreen();
  meEl.textContent = unescapeName(user.username);
  meEl.setAttribute("data-test", "me");
  const s = client.game();
  session = s;
  const ctx: Ctx = { client, session: s, me: { id: user.id, name: user.username }, notify, toLobby: showLobby };
  s.onState((st) => {
    connEl.dataset["state"] = st.state;
    connEl.textContent = STATE_LABEL[st.state];
    if (st.state === "closed" && st.error) notify(`disconnected: ${errText(st.error)}`, "error");
    if (st.state === "closed" && st.code === 4000) notify("This seat was taken over by another tab.", "error");
  });
  s.on("sync", ({ state }) => openRoom(ctx, state));
  s.on("reconnected", (r) => openRoom(ctx, r.state));
  s.on("message", (m, meta) => {
    if (!(ROOM_EVENT_TYPES as readonly string[]).includes(m.type)) return;
    const ev = m as RoomEventMessage;
    if (current && current.view.room === ev.room) current.view.onEvent(ev, meta.replayed);
  });
  s.on("match_found", (m) => {
    lobby?.matched();
    s.joinRoom(m.room).catch((err) => notify(`could not join the match: ${errText(err)}`, "error"));
  });
  s.on("server_shutdown", () => notify("The server is restarting; reconnecting…"));
  app.replaceChildren(h("p", { class: "loading" }, "Connecting…"));
  s.connect().then(
    () => {
      if (!s.seatInfo && !current) showLobby();
    },
    (err) => {
      notify(errText(err), "error");
      client.signOut();
      signInScreen();
    },
  );
}

function openRoom(ctx: Ctx, state: RoomState): void {
  if (current && current.view.room === state.room) {
    current.view.setState(state);
    return;
  }
  closeViews();
  const view: RoomView = state.kind === "chess" ? new ChessView(ctx, state) : new PartyView(ctx, state);
  const chat = new ChatPanel(ctx.client, state.room, ctx.me.name);
  current = { view, chat };
  const leave = button(
    "Leave room",
    () => {
      ctx.session.leaveRoom().then(showLobby, (err) => notify(errText(err), "error"));
    },
    { "data-test": "leave" },
  );
  app.replaceChildren(
    h("div", { class: "room-layout" }, view.el, h("aside", { class: "side" }, chat.el, h("p", {}, leave))),
  );
}

function closeViews(): void {
  current?.view.destroy();
  current?.chat.close();
  current = null;
  lobby?.destroy();
  lobby = null;
}

function showLobby(): void {
  closeViews();
  if (!session) return;
  const ctx: Ctx = {
    client,
    session,
    me: { id: client.user?.id ?? 0, name: client.user?.username ?? "" },
    notify,
    toLobby: showLobby,
  };
  lobby = new Lobby(ctx);
  app.replaceChildren(lobby.el);
}

if (client.token) start();
else signInScreen();
