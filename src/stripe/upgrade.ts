/**
 * @module API-version upgrades: the cutover's switch by event id. After the cutover the shadow path's copies are
 * the live ones; a copy it received before (kept apart) whose id never reached the live events would otherwise
 * never run, since its old copy is now kept apart too. Promoting moves each such copy into the live events with
 * the deliveries the handler map gives it, through the same ingest as a pushed event: an id that arrives live
 * meanwhile is a duplicate, so each event runs exactly once, whichever copy came first.
 */
import type { Router } from "../config/routes.ts";
import { newDelivery } from "../delivery/rows.ts";
import { describeEvent } from "../store/event.ts";
import type { Store, Upgrade } from "../store/types.ts";

const PAGE = 500;
const utf8 = new TextDecoder();

/** Moves the shadow path's unmatched copies received since `since` (unix ms) into the live events; how many. */
export async function promoteCopies(
  store: Store,
  router: Router,
  upgrade: Pick<Upgrade, "shadowPath">,
  since = 0,
): Promise<number> {
  let promoted = 0;
  for (;;) {
    const page = await store.copies({ endpoint: upgrade.shadowPath, unmatched: true, since, limit: PAGE });
    if (page.length === 0) return promoted;
    const results = await Promise.all(
      page.map(({ copy }) => {
        const data = JSON.parse(utf8.decode(copy.body)) as Record<string, unknown>;
        const event = describeEvent(data, copy.object === "v2.core.event" ? "v2.core.event" : "event");
        const deliveries = router(event.type).map((a) => newDelivery(a, data));
        return store.ingest(
          {
            ...event,
            receivedAt: copy.receivedAt,
            endpoint: copy.endpoint,
            body: copy.body,
            ...(copy.verifiedBy ? { verifiedBy: copy.verifiedBy } : {}),
          },
          deliveries,
        );
      }),
    );
    promoted += results.filter((r) => r.status === "stored").length;
    if (page.length < PAGE) return promoted;
  }
}

/** True once the upgrade is cut over. */
export function isCutOver(upgrade: Upgrade | undefined): boolean {
  return upgrade?.cutOverAt !== null && upgrade?.cutOverAt !== undefined;
}
