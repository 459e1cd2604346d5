/** @module `log: "PaymentIntent {{data.object.id}} was successful!"`: prints one line per event to stdout. */
import { Type } from "@sinclair/typebox";
import { describe } from "../errors.ts";
import { escapeControl } from "../utils/escape.ts";
import { compileTemplate } from "../utils/template.ts";
import { ActionBase } from "./base.ts";
import type { ActionKind } from "./types.ts";

export const log: ActionKind = {
  kind: "log",
  schema: Type.Object(
    { log: Type.String({ description: "a line to print, with {{path}} placeholders into the event" }), ...ActionBase },
    { additionalProperties: false },
  ),
  compile(spec) {
    const template = compileTemplate(spec.log as string, escapeControl);
    if (typeof template === "string") return { problems: [["log", template]] };
    return {
      async run({ event, print }) {
        try {
          await print(template(event.data));
        } catch (error) {
          return { ok: false, retry: true, error: `the line could not be written to stdout: ${describe(error)}` };
        }
        return { ok: true };
      },
      plan: ({ event }) => ({ status: "run", details: { line: template(event.data) } }),
    };
  },
};
