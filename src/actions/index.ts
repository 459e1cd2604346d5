/** @module The action kinds payhook knows, as one registry and one discriminated schema. */
import { Type } from "@sinclair/typebox";
import { withConditions } from "./conditions.ts";
import { exec } from "./exec.ts";
import { file } from "./file.ts";
import { forward } from "./forward.ts";
import { log } from "./log.ts";
import type { ActionKind } from "./types.ts";

/** Every kind honours `when:` the same way, so the wrapping happens here rather than in each kind. */
export const actionKinds: readonly ActionKind[] = [log, forward, exec, file].map(withConditions);

export const ActionSchema = Type.Union(
  actionKinds.map((k) => k.schema),
  { description: `an action: one of ${actionKinds.map((k) => k.kind).join(", ")}` },
);
