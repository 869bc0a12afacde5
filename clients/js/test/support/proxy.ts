// A TCP proxy between a client and the server that the test can cut (both sides see the
// connection drop, as on a network failure) and block (new connections are refused).

import { createServer, connect, type Server, type Socket } from "node:net";

export class Proxy {
  private server: Server;
  private pairs = new Set<[Socket, Socket]>();
  blocked = false;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((down) => {
      if (this.blocked) {
        down.destroy();
        return;
      }
      const up = connect(this.targetPort, "127.0.0.1");
      const pair: [Socket, Socket] = [down, up];
      this.pairs.add(pair);
      const end = () => {
        down.destroy();
        up.destroy();
        this.pairs.delete(pair);
      };
      down.on("error", end).on("close", end);
      up.on("error", end).on("close", end);
      down.pipe(up);
      up.pipe(down);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    const a = this.server.address();
    this.port = typeof a === "object" && a ? a.port : 0;
    return `http://127.0.0.1:${this.port}`;
  }

  /** Drop every proxied connection. */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  get connections(): number {
    return this.pairs.size;
  }

  close(): Promise<void> {
    this.cut();
    if (!this.server.listening) return Promise.resolve();
    return new Promise((r) => this.server.close(() => r()));
  }
}
