/**
 * @module An endpoint's signing secrets as payhook uses them: each with a label (its own, or its position in the
 * list: "1", "2", …) and whether it is retiring. The label is what events, metrics and pages show; the secret
 * never leaves the verifier.
 */
import type { Static } from "@sinclair/typebox";
import type { Path } from "./path.ts";
import type { EndpointSchema } from "./schema.ts";

export interface SigningSecret {
  label: string;
  secret: string;
  retiring: boolean;
}

type SecretsFile = Static<typeof EndpointSchema>["secrets"];

/** The secrets that are set (empty slots left out), labelled; problems for duplicate labels or none set. */
export function resolveSecrets(entries: SecretsFile, at: Path, problems: [Path, string][]): SigningSecret[] {
  const labels = new Set<string>();
  const out: SigningSecret[] = [];
  entries.forEach((entry, i) => {
    const item = typeof entry === "string" ? { label: String(i + 1), secret: entry, retiring: false } : entry;
    if (labels.has(item.label)) {
      problems.push([[...at, i, "label"], `the label is used twice in this endpoint's secrets; give each its own`]);
    }
    labels.add(item.label);
    if (item.secret !== "") out.push({ label: item.label, secret: item.secret, retiring: item.retiring === true });
  });
  if (out.length === 0) problems.push([at, "every secret is empty; set at least one whsec_… secret"]);
  return out;
}
