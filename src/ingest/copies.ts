/**
 * @module Which copies of an event are kept apart during an API-version upgrade. A shadow endpoint receives the
 * new version's rendering of each event the live endpoint receives, under the same event id. Before the cutover
 * the shadow's copies are kept apart and run nothing; from the cutover on the roles swap: the shadow path's copies
 * go to the live events (where an id already there is a duplicate, so no event runs twice) and the old path's are
 * kept apart, except for events created before the shadow endpoint existed, which only ever reach the old path.
 * A while after the cutover the old path's secrets retire, and its events are refused.
 */
import type { Endpoint } from "../config/types.ts";
import { type Retirement, retirements } from "../ops/rotation.ts";
import type { Upgrade } from "../store/types.ts";

/** The upgrades the store records, as the server last read them (see stripe/upgrade-watch.ts). */
export class UpgradeState {
  private byShadow = new Map<string, Upgrade>();

  set(upgrades: readonly Upgrade[]): void {
    this.byShadow = new Map(upgrades.map((u) => [u.shadowPath, u]));
  }

  get(shadowPath: string): Upgrade | undefined {
    return this.byShadow.get(shadowPath);
  }

  all(): Upgrade[] {
    return [...this.byShadow.values()];
  }
}

/** True when the copy of an event (created at `created`, unix s) posted to `path` is kept apart. */
export type CopyRule = (path: string, created: number) => boolean;

/** The rule for `endpoints`; endpoints in no upgrade cost one failed map lookup each. */
export function copyRule(endpoints: readonly Endpoint[], state: UpgradeState): CopyRule | undefined {
  const shadowOf = new Map<string, string>();
  const shadowedBy = new Map<string, string>();
  for (const e of endpoints) {
    if (e.shadowOf === undefined) continue;
    shadowOf.set(e.path, e.shadowOf);
    shadowedBy.set(e.shadowOf, e.path);
  }
  if (shadowOf.size === 0) return undefined;
  return (path, created) => {
    if (shadowOf.has(path)) return state.get(path)?.cutOverAt == null;
    const shadow = shadowedBy.get(path);
    if (shadow === undefined) return false;
    const upgrade = state.get(shadow);
    if (upgrade === undefined || upgrade.cutOverAt === null) return false;
    return created >= upgrade.since;
  };
}

/** The retirement of `path`'s secrets once its window is over (refused from then on), else undefined. */
export type RetiredRule = (path: string, now: number) => Retirement | undefined;

/**
 * The rule for `endpoints`: after a cutover the old endpoint's secrets verify Stripe's retries for a while
 * (ops/rotation.ts), then every event signed with them is refused. Undefined when no endpoint is a shadow.
 */
export function retiredRule(endpoints: readonly Endpoint[], state: UpgradeState): RetiredRule | undefined {
  if (!endpoints.some((e) => e.shadowOf !== undefined)) return undefined;
  return (path, now) => {
    const retirement = retirements(endpoints, state.all()).find((r) => r.endpoint === path);
    return retirement && now >= retirement.until ? retirement : undefined;
  };
}
