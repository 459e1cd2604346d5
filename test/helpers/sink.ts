/**
 * @module A stand-in for the user's service on 127.0.0.1: records every request and answers each path by plan
 * (200, 500, 503 with Retry-After, 429, 410, 302, hang, reset, slow body), the plan's last answer repeating,
 * so "fail the first N" is `plan(path, ["500", "500", "200"])`. Each request records when it arrived and was
 * answered on one counter, so tests can tell which requests were in flight at the same time.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Mode = "200" | "500" | "503" | "429" | "410" | "404" | "302" | "hang" | "reset" | "slow" | "busy";

export interface SinkRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Ticks of one counter shared by all requests: at arrival, and once answered (while unset, still in flight). */
  arrived: number;
  /** When it arrived, Date.now(). */
  at: number;
  answered?: number;
  /** The status answered (0 for a reset, or while unanswered). */
  status: number;
}

export interface Sink {
  url: string;
  requests: SinkRequest[];
  /** Requests to one path. */
  to(path: string): SinkRequest[];
  /** Answers for `path` ("*": every path without a plan of its own), one per request; the last repeats. Unplanned paths answer 200. */
  plan(path: string, modes: Mode[]): void;
  /** Answers every request left hanging so far with `mode` ("200" by default). */
  release(mode?: Mode): void;
  /** Resolves once `count` requests reached `path` (a bound on waiting, not an assertion on time). */
  waitFor(path: string, count: number, ms?: number): Promise<SinkRequest[]>;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const requests: SinkRequest[] = [];
  const plans = new Map<string, Mode[]>();
  const hanging = new Set<ServerResponse>();
  let tick = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
    const request: SinkRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers,
      body: new Uint8Array(Buffer.concat(chunks)),
      arrived: ++tick,
      at: Date.now(),
      status: 0,
    };
    requests.push(request);
    res.on("close", () => {
      request.answered = ++tick;
      request.status = res.writableFinished ? res.statusCode : 0;
    });
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const plan = plans.get(path) ?? plans.get("*") ?? [];
    const mode = (plan.length > 1 ? plan.shift() : plan[0]) ?? "200";
    answer(mode, res, hanging);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const to = (path: string) => requests.filter((r) => r.url.split("?")[0] === path);
  return {
    url,
    requests,
    to,
    plan: (path, modes) => plans.set(path, [...modes]),
    release(mode = "200") {
      const held = [...hanging];
      hanging.clear();
      for (const res of held) if (!res.destroyed && !res.headersSent) answer(mode, res, hanging);
    },
    async waitFor(path, count, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (to(path).length < count) {
        if (Date.now() > deadline) {
          throw new Error(`sink: ${to(path).length} of ${count} requests to ${path} within ${ms} ms`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return to(path);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(mode: Mode, res: ServerResponse, hanging: Set<ServerResponse>): void {
  switch (mode) {
    case "200":
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    case "busy":
      // A service that takes a moment: 200 after 20 ms, so concurrent requests are seen overlapping.
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end("ok"), 20);
      return;
    case "500":
      res.writeHead(500).end("boom");
      return;
    case "503":
      res.writeHead(503, { "retry-after": "1" }).end("busy");
      return;
    case "429":
      res.writeHead(429).end("slow down");
      return;
    case "410":
      res.writeHead(410).end("gone");
      return;
    case "404":
      res.writeHead(404).end("no such thing");
      return;
    case "302":
      res.writeHead(302, { location: "/redirect-target" }).end();
      return;
    case "hang":
      // Never answers; closed when the sink closes.
      hanging.add(res);
      return;
    case "reset":
      res.socket?.destroy();
      return;
    case "slow":
      // Headers at once, then a body that never finishes.
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial ");
      hanging.add(res);
      return;
  }
}
