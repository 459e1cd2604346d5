/**
 * @module `file: { path, fsync? }`: appends the event as one JSON line to a file created with mode 0600. The line
 * is Stripe's raw JSON with the whitespace between tokens removed, so every value stays byte for byte as signed.
 * Event bodies hold customers' names and addresses, so the file must stay private: a symbolic link at the path
 * (which could point anywhere) and an existing file other users can read are refused, never appended to.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { resolve } from "node:path";
import { Type } from "@sinclair/typebox";
import { describe } from "../errors.ts";
import { hasPlaceholder } from "../utils/template.ts";
import { ActionBase } from "./base.ts";
import type { ActionKind, Outcome } from "./types.ts";

const closed = { additionalProperties: false } as const;

export const FileSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: "a file path such as ./events.jsonl (no templates)" }),
    fsync: Type.Optional(
      Type.Boolean({ description: "true to flush each line to disk before the delivery counts as done" }),
    ),
  },
  { ...closed, description: "a mapping with path and optional fsync" },
);

/** Errors that no retry can fix: the path names a directory or is not a valid file name. */
const PERMANENT = new Set(["EISDIR", "EINVAL", "ENAMETOOLONG"]);
/**
 * Append, create 0600 if missing, never through a symbolic link (ELOOP), and never wait on a FIFO planted at the
 * path (ENXIO without a reader; O_NONBLOCK changes nothing for a regular file).
 */
const FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export const file: ActionKind = {
  kind: "file",
  schema: Type.Object({ file: FileSchema, ...ActionBase }, closed),
  compile(spec, context) {
    const settings = spec.file as { path: string; fsync?: boolean };
    if (hasPlaceholder(settings.path)) {
      return {
        problems: [["file.path", "the path must be written out; templates would let an event choose where to write"]],
      };
    }
    // Relative to the config file's folder, like the store; resolved once, so nothing can move it later.
    const path = resolve(context?.baseDir ?? ".", settings.path);
    const fsync = settings.fsync === true;
    return {
      async run({ event }): Promise<Outcome> {
        const line = compactJson(event.raw);
        let handle: FileHandle;
        try {
          handle = await open(path, FLAGS, 0o600);
        } catch (error) {
          const code = String((error as { code?: unknown }).code ?? "");
          if (code === "ELOOP") {
            return {
              ok: false,
              retry: false,
              error: `refused to append to ${path}: it is a symbolic link, which could lead anywhere; write the real file's path in file.path`,
            };
          }
          // A missing folder, permissions or a full disk can be fixed while payhook retries.
          return { ok: false, retry: !PERMANENT.has(code), error: `cannot append to ${path}: ${describe(error)}` };
        }
        try {
          const refused = await unfit(handle, path);
          if (refused) return refused;
          // O_APPEND with one write per line: concurrent appends never interleave within a line.
          let offset = 0;
          while (offset < line.byteLength) {
            const { bytesWritten } = await handle.write(line, offset);
            offset += bytesWritten;
          }
          if (fsync) await handle.sync();
          return { ok: true };
        } catch (error) {
          return { ok: false, retry: true, error: `cannot append to ${path}: ${describe(error)}` };
        } finally {
          await handle.close();
        }
      },
      plan: () => ({ status: "run", details: { path, fsync } }),
    };
  },
};

/** Why the opened file must not take customer data, as a failed outcome; undefined when it may. */
async function unfit(handle: FileHandle, path: string): Promise<Outcome | undefined> {
  const stat = await handle.stat();
  if (!stat.isFile()) {
    return { ok: false, retry: false, error: `refused to append to ${path}: it is not a regular file` };
  }
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  // Retried: once the operator has run chmod, the next attempt appends.
  return {
    ok: false,
    retry: true,
    error: `refused to append to ${path}: other users of this machine can read or write it (mode ${mode.toString(8).padStart(4, "0")}), and each line holds customer data; run chmod 600 ${path} (payhook creates its own files 0600)`,
  };
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * `raw` without whitespace outside strings, plus a newline. JSON forbids raw line breaks inside strings, so the
 * result is one line; numbers and strings are copied untouched (a parse and re-serialise would round big numbers).
 */
export function compactJson(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.byteLength + 1);
  let size = 0;
  let inString = false;
  let escaped = false;
  for (const byte of raw) {
    if (inString) {
      if (escaped) escaped = false;
      else if (byte === BACKSLASH) escaped = true;
      else if (byte === QUOTE) inString = false;
    } else if (byte === SPACE || byte === TAB || byte === LF || byte === CR) {
      continue;
    } else if (byte === QUOTE) {
      inString = true;
    }
    out[size++] = byte;
  }
  out[size++] = LF;
  return out.subarray(0, size);
}
