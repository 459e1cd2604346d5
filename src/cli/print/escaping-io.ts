/**
 * @module Output of commands that print what a service or a database said (Stripe's endpoint URLs and messages, a
 * version read from the store): every line goes out with its control characters escaped, so no answer can drive
 * the terminal. JSON lines stay valid JSON: the escapes are JSON's own `\uXXXX`, and only appear inside strings.
 */
import { escapeControlInLines } from "../../utils/escape.ts";
import type { Io } from "../types.ts";

export function escapingIo(io: Io): Io {
  return {
    ...io,
    out: (line) => io.out(escapeControlInLines(line)),
    err: (line) => io.err(escapeControlInLines(line)),
  };
}
