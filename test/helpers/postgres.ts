/**
 * @module A throwaway PostgreSQL cluster for tests: initdb and pg_ctl (Debian's `postgresql` package, which
 * `make test` installs) on a temporary folder, listening on 127.0.0.1 and a free port only, removed by stop().
 * The server refuses to run as root, so as root it runs as the package's `postgres` user. Written with node:*
 * modules only, so `bun test` and `deno test` both use it. One cluster per test file; a fresh schema or
 * database per test keeps tests apart at a fraction of a cluster's start-up cost.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

export interface Cluster {
  port: number;
  /** A URL for `database` (default "postgres") as the superuser `postgres`, with no password. */
  url(database?: string): string;
  /** Runs SQL with psql against `database` (default "postgres"); returns its unaligned output. */
  psql(sql: string, database?: string): string;
  /** Creates an empty database and returns its name. */
  createDatabase(): string;
  /** Stops the server (fast shutdown: open connections are cut) without removing its files. */
  pause(): void;
  /** Starts it again after pause(), on the same port. */
  resume(): void;
  /**
   * Stops every process of the server with SIGSTOP: connections stay open and nothing answers, as in a network
   * partition or a stalled host. thaw() (SIGCONT) lets it go on where it was.
   */
  freeze(): void;
  thaw(): void;
  /** Stops the server and removes its folder. */
  stop(): void;
}

export interface ClusterOptions {
  /** Keep PostgreSQL's own durability (fsync, full_page_writes); off by default since tests never crash the host. */
  durable?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Make TCP logins prove a password (scram-sha-256) instead of trusting everyone on 127.0.0.1. */
  passwords?: boolean;
}

/** The superuser's password when the cluster checks passwords. */
export const SUPERUSER_PASSWORD = "cluster-superuser-pw";

/** The folder with initdb and pg_ctl of the newest installed PostgreSQL; throws how to install one if none. */
export function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `make test-tools` installs Debian's postgresql package",
    );
  }
  return join(root, versions[0], "bin");
}

let clusters = 0;

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "payhook-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? Number(execFileSync("id", ["-u", "postgres"]).toString().trim()) : undefined;
  if (owner !== undefined) {
    chownSync(dir, owner, Number(execFileSync("id", ["-g", "postgres"]).toString().trim()));
    chmodSync(dir, 0o700);
  }
  const run = (program: string, args: string[]) =>
    execFileSync(
      asRoot ? "runuser" : join(bin, program),
      asRoot ? ["-u", "postgres", "--", join(bin, program), ...args] : args,
      {
        stdio: ["ignore", "pipe", "pipe"],
        cwd: dir,
      },
    ).toString();
  const auth = ["-A", "trust"];
  if (options.passwords) {
    writeFileSync(join(dir, "pw"), SUPERUSER_PASSWORD);
    if (owner !== undefined) chownSync(join(dir, "pw"), owner, -1);
    auth.push("--auth-host=scram-sha-256", `--pwfile=${join(dir, "pw")}`);
  }
  try {
    run("initdb", ["-D", data, ...auth, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: dir,
    max_connections: "200",
    ...(options.durable ? {} : { fsync: "off", full_page_writes: "off" }),
    ...options.settings,
  };
  const serverOptions = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
  const start = () =>
    run("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-t", "30", "-o", serverOptions, "start"]);
  try {
    start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  clusters += 1;
  let databases = 0;
  let stopped = false;
  const psql = (sql: string, database = "postgres") =>
    execFileSync(
      join(bin, "psql"),
      [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        database,
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD } },
    )
      .toString()
      .trim();
  const cluster: Cluster = {
    port,
    url: (database = "postgres") =>
      `postgres://postgres${options.passwords ? `:${SUPERUSER_PASSWORD}` : ""}@127.0.0.1:${port}/${database}`,
    psql,
    createDatabase() {
      databases += 1;
      const name = `t${process.pid}_${clusters}_${databases}`;
      psql(`CREATE DATABASE ${name} TEMPLATE template0`);
      return name;
    },
    pause: () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]),
    resume: start,
    freeze: () => signalAll(data, "SIGSTOP"),
    thaw: () => signalAll(data, "SIGCONT"),
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already stopped (pause() without resume()).
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // A test process that ends without stop() (a crash, a script) must not leave a server running.
  process.once("exit", () => cluster.stop());
  return cluster;
}

/**
 * Sends `signal` to the cluster's postmaster (the first line of postmaster.pid) and to every process it started.
 * The postmaster is stopped first, so it forks no backend that the list would miss, and continued last.
 */
function signalAll(data: string, signal: "SIGSTOP" | "SIGCONT"): void {
  const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  if (signal === "SIGSTOP") process.kill(postmaster, signal);
  const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(postmaster)])
    .toString()
    .trim()
    .split(/\s+/);
  for (const pid of children.filter(Boolean)) process.kill(Number(pid), signal);
  if (signal === "SIGCONT") process.kill(postmaster, signal);
}

/** A port nobody listens on now, from the kernel. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
