/**
 * @module A yes-or-no question before a command destroys something: asked on a terminal, refused elsewhere (a
 * script, a cron job, a pipe) with the flag that answers it, so nothing waits for input that never comes.
 */
import type { Io } from "./types.ts";

/** True when `yes` (the command's --yes) is given or a person at the terminal answers y. */
export async function askYes(io: Io, yes: boolean, question: string, refusal: string): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    io.err(`payhook: ${refusal}; pass --yes to go ahead without a terminal to ask on`);
    return false;
  }
  io.err(`${question} [y/N]`);
  if (/^y(es)?$/i.test((await readLine())?.trim() ?? "")) return true;
  io.err(`payhook: ${refusal} (answer y, or pass --yes)`);
  return false;
}

/** The first line on stdin, or undefined at its end. */
async function readLine(): Promise<string | undefined> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += String(chunk);
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end);
  }
  return text === "" ? undefined : text;
}
