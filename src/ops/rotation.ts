/**
 * @module Retiring signing secrets. A secret retires in one of two ways: the config marks it `retiring: true`
 * (a rotation at Stripe; it verifies until it is removed), or an API-version cutover retires every secret of the
 * endpoint the shadow took over from: they verify for CUTOVER_RETIRE_MS after the cutover, while Stripe may still
 * retry that endpoint's events, and are refused from then on. `payhook check --rotation` says for each whether
 * it verified any event in the last days (from the label stored with each event) and when it can be removed.
 */
import type { Endpoint } from "../config/types.ts";
import type { SecretUse, Store, Upgrade } from "../store/types.ts";

/** How long the old endpoint's secrets still verify after a cutover: Stripe retries an event for up to 3 days. */
export const CUTOVER_RETIRE_MS = 3 * 86_400_000;

/** An endpoint whose secrets retire because an API-version upgrade was cut over away from it. */
export interface Retirement {
  /** The old endpoint's path. */
  endpoint: string;
  /** The shadow endpoint's path, live since the cutover. */
  shadow: string;
  /** Unix ms: its secrets verify until then and are refused from then on. */
  until: number;
}

/** The retirement a cut-over upgrade sets, none before its cutover. */
export function retirementOf(upgrade: Upgrade): Retirement | undefined {
  if (upgrade.cutOverAt === null) return undefined;
  return { endpoint: upgrade.livePath, shadow: upgrade.shadowPath, until: upgrade.cutOverAt + CUTOVER_RETIRE_MS };
}

/**
 * The retirements in force for `endpoints`: those of cut-over upgrades whose shadow endpoint still names the old
 * one in `shadow_of` (once the config drops that, the old path is an ordinary endpoint again).
 */
export function retirements(
  endpoints: readonly Pick<Endpoint, "path" | "shadowOf">[],
  upgrades: readonly Upgrade[],
): Retirement[] {
  return upgrades.flatMap((u) => {
    const r = retirementOf(u);
    const named = endpoints.some((e) => e.path === u.shadowPath && e.shadowOf === u.livePath);
    return r && named && endpoints.some((e) => e.path === u.livePath) ? [r] : [];
  });
}

/** What to remove from the config once the old endpoint's secrets are retired. */
export function removalAdvice(r: Retirement): string {
  return `remove the ${r.endpoint} endpoint and the shadow_of: ${r.endpoint} of ${r.shadow} from the config, then reload`;
}

/** One line on a retirement: until when the secrets verify, or since when they are refused. */
export function retirementLine(r: Retirement, labels: readonly string[], now: number): string {
  const secrets = `${r.endpoint}'s secret${labels.length === 1 ? "" : "s"} ${labels.join(", ")}`;
  return now < r.until
    ? `${secrets}: retiring since the cutover to ${r.shadow}: they verify until ${iso(r.until)}, then are refused; after that, ${removalAdvice(r)}`
    : `${secrets}: retired at ${iso(r.until)} (cutover to ${r.shadow}): events signed with them are refused; ${removalAdvice(r)}`;
}

export interface RetiringSecret {
  endpoint: string;
  label: string;
  /** Events it verified in the period, and when the last one arrived (unix ms, null when none). */
  events: number;
  lastAt: number | null;
  /** Set when a cutover retires it: it verifies until `retirement.until`. */
  retirement?: Retirement;
}

/** Every retiring secret of `endpoints` (marked in the config, or by a cutover) with its use since `since` (unix ms). */
export async function retiringUse(
  endpoints: readonly Endpoint[],
  store: Pick<Store, "secretUse" | "upgrades">,
  since: number,
): Promise<RetiringSecret[]> {
  const [use, upgrades] = await Promise.all([store.secretUse(since), store.upgrades()]);
  const retired = retirements(endpoints, upgrades);
  const find = (endpoint: string, label: string): SecretUse | undefined =>
    use.find((u) => u.endpoint === endpoint && u.secret === label);
  return endpoints.flatMap((e) => {
    const retirement = retired.find((r) => r.endpoint === e.path);
    return e.signing
      .filter((s) => s.retiring || retirement)
      .map((s) => {
        const used = find(e.path, s.label);
        return {
          endpoint: e.path,
          label: s.label,
          events: used?.events ?? 0,
          lastAt: used?.lastAt ?? null,
          ...(retirement ? { retirement } : {}),
        };
      });
  });
}

/** Whether the secret can go: a cutover's once its window is over, a rotation's once it verified nothing lately. */
export function safeToRemove(secret: RetiringSecret, now: number): boolean {
  return secret.retirement ? now >= secret.retirement.until : secret.events === 0;
}

/** One line per retiring secret: safe to remove, or not yet. */
export function formatRetiring(secret: RetiringSecret, days: number, now: number): string {
  const name = `${secret.endpoint} secret ${secret.label}`;
  const used =
    secret.events === 0
      ? `verified no event in the last ${days} days`
      : `verified ${secret.events} event${secret.events === 1 ? "" : "s"} in the last ${days} days, the last at ${iso(secret.lastAt ?? 0)}`;
  const r = secret.retirement;
  if (r) {
    return now < r.until
      ? `  ${name}: retiring since the cutover to ${r.shadow}, verifies until ${iso(r.until)}; ${used}: not yet safe to remove (Stripe may retry the old endpoint's events until then); after that, ${removalAdvice(r)}`
      : `  ${name}: retired at ${iso(r.until)} (cutover to ${r.shadow}), events signed with it are refused: safe to remove: ${removalAdvice(r)}`;
  }
  if (secret.events === 0) return `  ${name}: ${used}: safe to remove`;
  return `  ${name}: ${used}: not yet safe to remove (Stripe still signs with it)`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
