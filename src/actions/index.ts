/** @module The action kinds payhook knows, as one registry and one discriminated schema. */
import { Type } from "@sinclair/typebox";
import { log } from "./log.ts";
import type { ActionKind } from "./types.ts";

export const actionKinds: readonly ActionKind[] = [log];

export const ActionSchema = Type.Union(
  actionKinds.map((k) => k.schema),
  { description: `an action: one of ${actionKinds.map((k) => k.kind).join(", ")}` },
);
