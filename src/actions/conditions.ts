/**
 * @module `when:` conditions on event fields, which every action accepts: all of them must hold for the action
 * to run; otherwise the attempt is done at once with a "skipped: …" note saying which condition did not hold
 * (and its plan, for `payhook explain`, is skipped with the same reason).
 */
import { type Static, Type } from "@sinclair/typebox";
import { lookup } from "../utils/template.ts";
import type { ActionEvent, ActionKind } from "./types.ts";

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);

const Operators = Type.Object(
  {
    equals: Type.Optional(Scalar),
    one_of: Type.Optional(Type.Array(Scalar, { minItems: 1 })),
    exists: Type.Optional(Type.Boolean()),
    gt: Type.Optional(Type.Number()),
    gte: Type.Optional(Type.Number()),
    lt: Type.Optional(Type.Number()),
    lte: Type.Optional(Type.Number()),
    prefix: Type.Optional(Type.String()),
  },
  { additionalProperties: false, minProperties: 1 },
);

const OPERATOR_NAMES = Object.keys(Operators.properties);

export const WhenSchema = Type.Record(
  Type.String(),
  Type.Union([Scalar, Operators], {
    description: `a value the field must equal, or a mapping of tests (${OPERATOR_NAMES.join(", ")}) that must all hold`,
  }),
  {
    description:
      "conditions on event fields (livemode, account, data.object.*, data.previous_attributes.*; with fetch:, fetched.event.* and fetched.related_object.*) that must all hold for this action to run",
  },
);

export type When = Static<typeof WhenSchema>;
type Test = Static<typeof Operators>;

/** A compiled `when:`: null when every condition holds, else why one does not. */
export type Condition = (event: ActionEvent) => string | null;

const FIELD =
  /^(livemode|account|data\.(object|previous_attributes)(\.[A-Za-z0-9_]+)+|fetched\.(event|related_object)(\.[A-Za-z0-9_]+)+)$/;

/** Checks the field paths and compiles the conditions, or returns problems as [relative path, message]. */
export function compileWhen(when: When | undefined): { problems: [string, string][] } | { condition: Condition } {
  if (when === undefined) return { condition: () => null };
  const problems: [string, string][] = [];
  const checks: [string, string[], Test][] = [];
  for (const [field, spec] of Object.entries(when)) {
    if (!FIELD.test(field)) {
      problems.push([
        `when.${field}`,
        `"${field}" is not a field payhook can test; use livemode, account, data.object.<path>, data.previous_attributes.<path> (a dotted path such as data.object.metadata.plan), or for thin events with fetch: fetched.event.<path> or fetched.related_object.<path>`,
      ]);
      continue;
    }
    const test: Test = spec !== null && typeof spec === "object" ? spec : { equals: spec };
    if (test.gt !== undefined && test.lt !== undefined && test.gt >= test.lt) {
      problems.push([`when.${field}`, `gt ${test.gt} and lt ${test.lt} can never both hold`]);
    }
    checks.push([field, field.split("."), test]);
  }
  if (problems.length > 0) return { problems };
  return {
    condition(event) {
      for (const [field, path, test] of checks) {
        const value = fieldValue(event.data, path);
        const failed = failedTest(test, value);
        if (failed) return `when ${field} ${failed} does not hold (it is ${preview(value)})`;
      }
      return null;
    },
  };
}

/** Gives every kind `when:` support: its compiled run (and plan) only acts once all the action's conditions hold. */
export function withConditions(kind: ActionKind): ActionKind {
  return {
    kind: kind.kind,
    schema: kind.schema,
    compile(spec, context) {
      const compiledWhen = compileWhen(spec.when as When | undefined);
      const compiled = kind.compile(spec, context);
      const problems = [
        ...("problems" in compiledWhen ? compiledWhen.problems : []),
        ...("problems" in compiled ? compiled.problems : []),
      ];
      if (problems.length > 0 || "problems" in compiled || "problems" in compiledWhen) return { problems };
      if (spec.when === undefined) return compiled;
      const { condition } = compiledWhen;
      const { run, plan } = compiled;
      return {
        ...compiled,
        async run(context) {
          const unmet = condition(context.event);
          return unmet === null ? run(context) : { ok: true, output: `skipped: ${unmet}` };
        },
        plan(context) {
          const unmet = condition(context.event);
          return unmet === null ? plan(context) : { status: "skipped", reason: unmet };
        },
      };
    },
  };
}

function fieldValue(data: Record<string, unknown>, path: string[]): unknown {
  // Thin events (v2) carry the connected account as `context`, snapshot events as `account`.
  if (path.length === 1 && path[0] === "account") return lookup(data, ["account"]) ?? lookup(data, ["context"]);
  return lookup(data, path);
}

/** The first test `value` fails, written as in the config, or null when all pass. */
function failedTest(test: Test, value: unknown): string | null {
  const present = value !== undefined && value !== null;
  if (test.exists !== undefined && present !== test.exists) return `exists: ${test.exists}`;
  if (Object.hasOwn(test, "equals") && normalise(value) !== test.equals) {
    return `equals ${JSON.stringify(test.equals)}`;
  }
  if (test.one_of && !test.one_of.some((v) => normalise(value) === v)) {
    return `one_of ${JSON.stringify(test.one_of)}`;
  }
  if (test.prefix !== undefined && !(typeof value === "string" && value.startsWith(test.prefix))) {
    return `prefix ${JSON.stringify(test.prefix)}`;
  }
  const number = typeof value === "number" ? value : Number.NaN;
  // A comparison with NaN is false, so a missing or non-numeric field fails every numeric test.
  if (test.gt !== undefined && !(number > test.gt)) return `gt ${test.gt}`;
  if (test.gte !== undefined && !(number >= test.gte)) return `gte ${test.gte}`;
  if (test.lt !== undefined && !(number < test.lt)) return `lt ${test.lt}`;
  if (test.lte !== undefined && !(number <= test.lte)) return `lte ${test.lte}`;
  return null;
}

/** A missing field compares like null, so `equals: null` holds for both. */
function normalise(value: unknown): unknown {
  return value === undefined ? null : value;
}

function preview(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}
