/**
 * @module Live updates: a signal raised when events are stored or deliveries change in this process, and the
 * server-sent event stream that tells open pages to refresh, with a keep-alive comment so idle connections and
 * proxies do not drop it.
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

/** A text/event-stream response: "change" whenever something changed, ": ping" every 15 s, until the client goes. */
export function liveStream(changes: Changes, signal: AbortSignal, headers: Record<string, string>): Response {
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
      const ping = setInterval(() => send(": ping\n\n"), KEEP_ALIVE_MS);
      stop = () => {
        unsubscribe();
        clearInterval(ping);
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
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
