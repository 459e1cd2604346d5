/**
 * @module What both runtimes do the same way once a child process is started: feed its input, read its output
 * (capped), enforce the timeout on its whole process group, and leave no orphans.
 */
import { Buffer } from "node:buffer";
import type { SpawnOptions, SpawnResult } from "./types.ts";

/** A started child, as each runtime adapter presents it. */
export interface Child {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  /** Writes all of `bytes` to the child's stdin and closes it. */
  writeInput(bytes: Uint8Array): Promise<void>;
  exited: Promise<{ exitCode: number | null; signal: string | null }>;
  /** Sends `signal` to the child's whole process group (the child leads one: it was started detached). */
  signalGroup(signal: "SIGTERM" | "SIGKILL"): void;
}

/** After a timeout's SIGTERM, how long the process group has before SIGKILL. */
const KILL_GRACE_MS = 2_000;

export async function supervise(child: Child, options: SpawnOptions): Promise<SpawnResult> {
  let timedOut = false;
  let hardKill: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    // SIGTERM first so the program can clean up; whatever is left of the group gets SIGKILL after the grace.
    child.signalGroup("SIGTERM");
    hardKill = setTimeout(() => child.signalGroup("SIGKILL"), KILL_GRACE_MS);
  }, options.timeoutMs);
  // Output is read while the input is written: a child that prints before it reads must not deadlock us.
  const stdout = readCapped(child.stdout, options.outputCap);
  const stderr = readCapped(child.stderr, options.outputCap);
  const input = child.writeInput(options.stdin).catch(() => {
    // The child may exit without reading its input; that is its choice, not an error.
  });
  const status = await child.exited;
  clearTimeout(timer);
  clearTimeout(hardKill);
  // No orphans: grandchildren that outlive the child (and would hold its output pipes open) are ended too.
  child.signalGroup("SIGKILL");
  const [out, err] = await Promise.all([stdout, stderr, input]);
  return { ...status, timedOut, stdout: out, stderr: err };
}

/** Reads a stream to its end, keeping at most `cap` bytes and counting the rest. */
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
