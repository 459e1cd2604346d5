/**
 * @module Live updates: a signal raised when events are stored or deliveries change in this process, and the
 * server-sent event stream that tells open pages to refresh, with a keep-alive comment so idle connections and
 * proxies do not drop it. Each session holds a bounded number of streams, and they end when it logs out.
 */

const KEEP_ALIVE_MS = 15_000;
/** Changes closer together than this reach a page as one message. */
const COALESCE_MS = 250;

export interface Changes {
  notify(): void;
  subscribe(listener: () => void): () => void;
}

export function createChanges(): Changes {
  const listeners = new Set<() => void>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    notify() {
      if (timer !== undefined || listeners.size === 0) return;
      timer = setTimeout(() => {
        timer = undefined;
        for (const listener of [...listeners]) listener();
      }, COALESCE_MS);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The most live streams one session may hold open: plenty of tabs, but not an unbounded number of connections. */
export const MAX_STREAMS_PER_SESSION = 16;

/** The open live streams of every session: capped per session, and ended when their session ends. */
export interface LiveStreams {
  /** A stream for a page of `session`, or undefined when the session already holds the most it may. */
  open(
    session: string,
    signal: AbortSignal,
    headers: Record<string, string>,
    alive: () => boolean,
  ): Response | undefined;
  /** Ends every stream of `session` (it logged out). */
  end(session: string): void;
  /** How many streams `session` holds open. */
  count(session: string): number;
}

export function createLiveStreams(changes: Changes, max = MAX_STREAMS_PER_SESSION): LiveStreams {
  const open = new Map<string, Set<AbortController>>();
  return {
    open(session, signal, headers, alive) {
      const streams = open.get(session) ?? new Set<AbortController>();
      if (streams.size >= max) return undefined;
      const ended = new AbortController();
      streams.add(ended);
      open.set(session, streams);
      const forget = () => {
        streams.delete(ended);
        if (streams.size === 0 && open.get(session) === streams) open.delete(session);
      };
      return liveStream(changes, AbortSignal.any([signal, ended.signal]), headers, { alive, onEnd: forget });
    },
    end(session) {
      for (const ended of open.get(session) ?? []) ended.abort();
      open.delete(session);
    },
    count: (session) => open.get(session)?.size ?? 0,
  };
}

export interface StreamHooks {
  /** Asked at each keep-alive: false ends the stream (its session expired). */
  alive?: () => boolean;
  /** Called once when the stream ends, however it ends. */
  onEnd?: () => void;
}

/** A text/event-stream response: "change" whenever something changed, ": ping" every 15 s, until the client goes. */
export function liveStream(
  changes: Changes,
  signal: AbortSignal,
  headers: Record<string, string>,
  hooks: StreamHooks = {},
): Response {
  const encoder = new TextEncoder();
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop();
        }
      };
      const unsubscribe = changes.subscribe(() => send("event: change\ndata: {}\n\n"));
      const ping = setInterval(() => (hooks.alive?.() === false ? stop() : send(": ping\n\n")), KEEP_ALIVE_MS);
      let ended = false;
      stop = () => {
        if (ended) return;
        ended = true;
        hooks.onEnd?.();
        unsubscribe();
        clearInterval(ping);
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      if (signal.aborted) queueMicrotask(() => stop());
      signal.addEventListener("abort", () => stop());
      // The retry hint makes a restarted server's page reconnect within a second.
      send("retry: 1000\n: connected\n\n");
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-store" },
  });
}
