/** @module Reads a child's output stream, keeping at most `cap` bytes and draining the rest. */
import { Buffer } from "node:buffer";

export async function readCapped(stream: ReadableStream<Uint8Array>, cap: number): Promise<string> {
  const kept: Uint8Array[] = [];
  let size = 0;
  let dropped = 0;
  const reader = stream.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const chunk = read.value;
    const room = cap - size;
    if (room > 0) {
      const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
      kept.push(part);
      size += part.byteLength;
    }
    dropped += Math.max(0, chunk.byteLength - Math.max(room, 0));
  }
  const text = new TextDecoder().decode(Buffer.concat(kept, size));
  return dropped > 0 ? `${text}\n[… ${dropped} more bytes not kept]` : text;
}
