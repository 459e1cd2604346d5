/**
 * @module The crash soak (E-1) on PostgreSQL: kill -9 under load loses nothing acknowledged, stores nothing
 * twice and repeats only deliveries in flight, with the database password a sentinel that no output holds
 * (E-6). One throwaway cluster, checking passwords.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { sentinelSecret } from "../helpers/sentinels.ts";
import { waitUntil } from "../helpers/server.ts";
import { runSoak, summary } from "../helpers/soak.ts";

const PASSWORD = sentinelSecret("pg0password");

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ passwords: true });
  cluster.psql(`CREATE ROLE payhook LOGIN PASSWORD '${PASSWORD}'`);
  cluster.psql("CREATE DATABASE soak OWNER payhook");
}, 60_000);
afterAll(() => cluster?.stop());

describe("E-1 crash soak on PostgreSQL", () => {
  test("E-1 5 kill -9 cycles, 32 senders: none lost, no duplicate rows, repeats only in flight, the password never shown", async () => {
    const url = `postgres://payhook:${PASSWORD}@127.0.0.1:${cluster.port}/soak?sslmode=disable`;
    const sql = postgres(url, {
      max: 2,
      onnotice: () => {},
      connection: { search_path: "payhook" },
      types: { bigint: { to: 20, from: [20], serialize: String, parse: Number } },
    } as never);
    try {
      const report = await runSoak({
        cycles: 5,
        killAfter: [200, 400],
        senders: 32,
        drainMs: 60_000,
        store: {
          setting: "${DATABASE_URL}",
          env: { DATABASE_URL: url },
          query: async <T>(text: string) => [...(await sql.unsafe(text))] as T[],
          // The killed instance's last statements (a batch of events with the deliveries it claimed) still commit.
          settled: () =>
            waitUntil(async () => {
              const [row] = await sql.unsafe(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'payhook' AND state <> 'idle' AND pid <> pg_backend_pid()",
              );
              return Number(row?.n) === 0;
            }),
        },
      });
      console.log(`E-1 soak on PostgreSQL: ${summary(report)}`);
      expect(report.acked).toBeGreaterThanOrEqual(1000);
      expect(report.lost).toEqual([]);
      expect(report.duplicateRows).toBe(0);
      expect(report.missingDeliveries).toBe(0);
      expect(report.deliveries).toBe(report.acked * 2);
      expect(report.notDone).toBe(0);
      expect(report.repeatedNotInFlight).toEqual([]);
      expect([...report.unexpectedStatuses]).toEqual([]);
      expect(report.redelivered).toBeGreaterThan(0);
      const output = `${report.stdout.join("\n")}\n${report.stderr.join("\n")}`;
      expect(output).not.toContain(PASSWORD);
      expect(output).toContain("postgres://payhook:***@127.0.0.1:"); // control: the store was named, redacted
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 180_000);
});
