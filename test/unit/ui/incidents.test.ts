/**
 * Alert incidents on the operator page, in-process with a store stub: the Overview heads with the open ones, the
 * Incidents screen (in the navigation) lists them and the resolved ones, and text from the store is escaped.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import type { Incident, Store } from "../../../src/store/types.ts";
import { OVERVIEW_INTERVAL_MS } from "../../../src/ui/overview-data.ts";
import { adminHandler, adminRequest } from "../../helpers/admin.ts";

const TOKEN = "a-token-of-sixteen-or-more";
const NOW = Date.UTC(2025, 0, 2, 12);
const HOUR = 3_600_000;
const HOSTILE = `<img src=x onerror=alert(1)>`;

const incident = (id: number, fields: Partial<Incident>): Incident => ({
  id,
  key: `k${id}`,
  rule: "dead",
  summary: "",
  details: "",
  count: 1,
  openedAt: NOW - 3 * HOUR,
  resolvedAt: null,
  notifiedAt: NOW - HOUR,
  updatedAt: NOW,
  ...fields,
});
let open = [
  incident(3, { rule: "failing", summary: `fulfil failed 12 times in a row: ${HOSTILE}`, count: 12 }),
  incident(2, { rule: "backlog", summary: "oldest pending delivery waits 20 min", details: `see ${HOSTILE}` }),
];
const resolved = incident(1, { rule: "store", summary: "the store's disk is nearly full", resolvedAt: NOW - 2 * HOUR });
let clock = NOW;
const asked: { open?: boolean; limit: number }[] = [];
const store = {
  activity: async () => [],
  queueStats: async () => ({ byStatus: {}, oldestPendingAt: null }),
  upgrades: async () => [],
  incidents: async (query: { open?: boolean; limit: number }) => {
    asked.push(query);
    return query.open ? open : [open[0], resolved, open[1]];
  },
} as unknown as Store;
const handle = adminHandler(store, { token: TOKEN, now: () => clock });
const send = (path: string, init: RequestInit = {}) => handle(adminRequest(path, init), { address: "127.0.0.1" });

let cookie = "";
beforeAll(async () => {
  const login = await send("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
  cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
});
const screen = async (path: string) => {
  const response = await send(path, { headers: { cookie } });
  expect(response.status).toBe(200);
  return response.text();
};
/** The rows of the first table after `from` (a heading's id or text), as text without tags. */
const rows = (page: string, from: string) => {
  const table = (page.split(from)[1] ?? "").split("</table>")[0] ?? "";
  return [...table.matchAll(/<tr><td>(.*?)<\/tr>/gs)].map((m) =>
    (m[1] ?? "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " "),
  );
};

describe("incidents on the operator page", () => {
  test("the Overview heads with the open incidents: rule, summary, count, opened and last notified, escaped", async () => {
    const page = await screen("/overview");
    expect(asked).toContainEqual({ open: true, limit: 20 });
    expect(page).toContain("Open incidents: 2");
    expect(page.indexOf("Open incidents")).toBeLessThan(page.indexOf("Events, last hour"));
    const [failing, backlog] = rows(page, 'id="open-incidents"');
    expect(failing).toContain("failing fulfil failed 12 times in a row: &lt;img src=x onerror=alert(1)&gt; 12");
    expect(failing).toContain("2025-01-02 09:00:00 (3 h 0 min ago)");
    expect(failing).toContain("2025-01-02 11:00:00 (1 h 0 min ago)");
    expect(backlog).toContain("backlog oldest pending delivery waits 20 min see &lt;img");
    expect(page).not.toContain("<img");
    expect(page).toContain('<a href="/incidents">All incidents</a>');
  });

  test("the Incidents screen, linked from every screen, lists the open ones and the resolved ones", async () => {
    expect(await screen("/overview")).toContain('<a href="/incidents" >Incidents</a>');
    const page = await screen("/incidents");
    expect(page).toContain('<a href="/incidents" aria-current="page">Incidents</a>');
    expect(rows(page, 'id="open-incidents"')).toHaveLength(2);
    const done = rows(page, "Resolved lately");
    expect(done).toEqual([
      "store the store&#39;s disk is nearly full 1 2025-01-02 09:00:00 2025-01-02 10:00:00 1 h 0 min ",
    ]);
    expect(page).not.toContain("<img");
  });

  test("no open incident: the Overview says so", async () => {
    open = [];
    clock += OVERVIEW_INTERVAL_MS; // past the Overview's shared reading
    const page = await screen("/overview");
    expect(page).toContain("No open incidents.");
  });
});
