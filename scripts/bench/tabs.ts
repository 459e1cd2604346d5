/**
 * @module Webhook latency while operators watch: payhook with its operator page on, 8 webhook connections, and N
 * logged-in Overview tabs, each (as the page's script does) listening on /live and fetching /overview again after
 * every change. The page must not cost the webhook path: N tabs should cost about what one does.
 */
import { join } from "node:path";
import { generateEvents, writeEventsFile } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, SECRET, startPayhook, writeConfig } from "./payhook.ts";
import type { Setup } from "./throughput.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const TOKEN = "payhook-bench-admin-token-0000000000";

export interface TabsRun {
  tabs: number;
  wrk: WrkResult;
  /** /overview pages the tabs fetched during the run. */
  overviews: number;
}

export async function measureTabs(setup: Setup, tabs: number, connections = 8): Promise<TabsRun> {
  const dir = benchDir();
  const events = generateEvents(setup.events, SECRET);
  const eventsFile = join(dir, "events.txt");
  writeEventsFile(eventsFile, events);
  const adminPort = freePort();
  writeConfig(dir, `${LOG_HANDLER}admin: { port: ${adminPort}, token: "${TOKEN}" }\n`);
  const proc = await startPayhook({ binary: setup.binary, dir, cpu: setup.serverCpu });
  const admin = `http://127.0.0.1:${adminPort}`;
  const stop = new AbortController();
  try {
    const login = await fetch(`${admin}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const counts = Array.from({ length: tabs }, () => ({ overviews: 0 }));
    const open = counts.map((count) => tab(admin, cookie, stop.signal, count));
    const wrk = await runWrk({
      url: `http://127.0.0.1:${proc.port}${PATH}`,
      eventsFile,
      connections,
      seconds: setup.seconds,
      cpu: setup.clientCpu,
    });
    stop.abort();
    await Promise.allSettled(open);
    await proc.stop();
    return { tabs, wrk, overviews: counts.reduce((n, c) => n + c.overviews, 0) };
  } finally {
    stop.abort();
    await proc.kill();
  }
}

/** One Overview tab: on each "change" from /live, fetch /overview (one at a time, as a browser tab does). */
async function tab(admin: string, cookie: string, signal: AbortSignal, count: { overviews: number }): Promise<void> {
  const live = await fetch(`${admin}/live`, { headers: { cookie }, signal });
  const reader = live.body?.getReader();
  if (!reader) return;
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (!decoder.decode(value).includes("event: change")) continue;
      await (await fetch(`${admin}/overview`, { headers: { cookie }, signal })).text();
      count.overviews++;
    }
  } catch {
    // aborted at the end of the run
  }
}

function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port as number;
  server.stop(true);
  return port;
}
