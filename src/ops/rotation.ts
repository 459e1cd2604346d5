/**
 * @module `payhook check --rotation`: for each retiring endpoint secret, whether it verified any event in the
 * last days (from the label stored with each event), so an operator knows when it can be removed.
 */
import type { Endpoint } from "../config/types.ts";
import type { SecretUse, Store } from "../store/types.ts";

export interface RetiringSecret {
  endpoint: string;
  label: string;
  /** Events it verified in the period, and when the last one arrived (unix ms, null when none). */
  events: number;
  lastAt: number | null;
}

/** Every retiring secret of `endpoints` with its use since `since` (unix ms). */
export async function retiringUse(
  endpoints: readonly Endpoint[],
  store: Pick<Store, "secretUse">,
  since: number,
): Promise<RetiringSecret[]> {
  const use = await store.secretUse(since);
  const find = (endpoint: string, label: string): SecretUse | undefined =>
    use.find((u) => u.endpoint === endpoint && u.secret === label);
  return endpoints.flatMap((e) =>
    e.signing
      .filter((s) => s.retiring)
      .map((s) => {
        const used = find(e.path, s.label);
        return { endpoint: e.path, label: s.label, events: used?.events ?? 0, lastAt: used?.lastAt ?? null };
      }),
  );
}

/** One line per retiring secret: safe to remove, or not yet. */
export function formatRetiring(secret: RetiringSecret, days: number): string {
  const name = `${secret.endpoint} secret ${secret.label}`;
  if (secret.events === 0) return `  ${name}: verified no event in the last ${days} days: safe to remove`;
  const last = new Date(secret.lastAt ?? 0).toISOString().replace(/\.\d{3}Z$/, "Z");
  return `  ${name}: verified ${secret.events} event${secret.events === 1 ? "" : "s"} in the last ${days} days, the last at ${last}: not yet safe to remove (Stripe still signs with it)`;
}
