/** @module A web Worker (Bun and Deno both have them) as a StoreWriterThread. */
import type { StoreWriterThread } from "./types.ts";

export function workerThread(url: URL): StoreWriterThread {
  const worker = new Worker(url.href, { type: "module" });
  return {
    post: (message) => worker.postMessage(message),
    listen(onMessage, onError) {
      worker.onmessage = (event) => onMessage(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        onError(event.message);
      };
    },
    terminate: () => worker.terminate(),
  };
}
