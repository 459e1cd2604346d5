/** @module `log: "PaymentIntent {{data.object.id}} was successful!"`: prints one line per event to stdout. */
import { Type } from "@sinclair/typebox";
import { compileTemplate } from "../template.ts";
import { ActionBase } from "./base.ts";
import type { ActionKind } from "./types.ts";

// Control characters and bidi overrides in event values would forge extra lines or reorder text in a terminal.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export const log: ActionKind = {
  kind: "log",
  schema: Type.Object(
    { log: Type.String({ description: "a line to print, with {{path}} placeholders into the event" }), ...ActionBase },
    { additionalProperties: false },
  ),
  compile(spec) {
    const template = compileTemplate(spec.log as string, escapeLine);
    if (typeof template === "string") return { problems: [["log", template]] };
    return {
      async run({ event, print }) {
        print(template(event.data));
        return { ok: true };
      },
      plan: ({ event }) => ({ status: "run", details: { line: template(event.data) } }),
    };
  },
};

function escapeLine(value: string): string {
  return value.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
