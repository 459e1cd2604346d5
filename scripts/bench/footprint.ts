/**
 * @module Where idle memory goes: compiles one tiny executable per part payhook is made of (the same `bun build
 * --compile --minify --bytecode` as dist/payhook), each loading that part as payhook uses it, and prints its idle
 * RSS, what it adds to an empty executable, and how much of it is anonymous (the rest is pages of the executable),
 * then all of them in one executable. `bun scripts/bench/footprint.ts` (README "Performance").
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const IDLE = `setTimeout(async () => {
  Bun.gc(true);
  await Bun.sleep(1000);
  const status = await Bun.file("/proc/self/status").text();
  console.log(/VmRSS:\\s+(\\d+)/.exec(status)?.[1], /RssAnon:\\s+(\\d+)/.exec(status)?.[1]);
  process.exit(0);
}, 10);`;

/** Each part's source; `keep` holds what it loaded, so nothing is collected before the reading. */
const parts: [name: string, source: string][] = [
  ["an empty executable", "export {};"],
  ["Bun.serve", 'Bun.serve({ port: 0, fetch: () => new Response("ok") });'],
  [
    "bun:sqlite, one WAL database",
    'import { Database } from "bun:sqlite"; const db = new Database(`${process.env.DIR}/a.db`); db.run("PRAGMA journal_mode=WAL"); db.run("CREATE TABLE IF NOT EXISTS t(x)"); keep(db);',
  ],
  ["a worker thread running bun:sqlite", 'keep(new Worker(new URL("./thread.ts", import.meta.url).href));'],
  [
    "stripe (Stripe.webhooks and the WebCrypto provider)",
    'import Stripe from "stripe"; keep([Stripe.webhooks, Stripe.createSubtleCryptoProvider()]);',
  ],
  ["elysia (one route)", 'import { Elysia } from "elysia"; keep(new Elysia().post("/webhook", () => "ok").listen(0));'],
  ["yaml", 'import { parseDocument } from "yaml"; keep(parseDocument("a: 1"));'],
  [
    "@sinclair/typebox (with its compiler)",
    'import { Type } from "@sinclair/typebox"; import { TypeCompiler } from "@sinclair/typebox/compiler"; keep(TypeCompiler.Compile(Type.Object({ a: Type.String() })));',
  ],
];
// Every part above in one executable: what payhook is made of, without payhook's own code.
parts.push([
  "all of them together",
  parts
    .slice(1)
    .map(([, source]) => source)
    .join("\n"),
]);
const THREAD =
  'import { Database } from "bun:sqlite"; const db = new Database(`${process.env.DIR}/b.db`); db.run("PRAGMA journal_mode=WAL"); db.run("CREATE TABLE IF NOT EXISTS t(x)"); (globalThis as any).db = db; setInterval(() => {}, 1000);';

// Inside the repository, so the parts resolve from its node_modules.
const dir = join(import.meta.dir, "../../.tmp/footprint");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "thread.ts"), THREAD);
const bun = process.execPath;

/** Name, idle RSS and its anonymous part, in MB. */
const rows: [string, number, number][] = [];
for (const [index, [name, source]] of parts.entries()) {
  const entry = join(dir, `part${index}.ts`);
  writeFileSync(entry, `const keep = (x: unknown) => ((globalThis as any).kept = x);\nkeep(0);\n${source}\n${IDLE}\n`);
  const binary = join(dir, `part${index}`);
  const entries = source.includes("thread.ts") ? [entry, join(dir, "thread.ts")] : [entry];
  const build = Bun.spawnSync([bun, "build", ...entries, "--compile", "--minify", "--bytecode", "--outfile", binary]);
  if (build.exitCode !== 0) throw new Error(`building ${name} failed: ${build.stderr.toString()}`);
  const run = Bun.spawnSync([binary], { env: { ...process.env, DIR: dir } });
  const [rss, anon] = run.stdout.toString().trim().split(" ").map(Number);
  if (run.exitCode !== 0 || !rss || !anon) throw new Error(`${name} failed: ${run.stderr.toString().slice(-2000)}`);
  rows.push([name, rss / 1024, anon / 1024]);
}
rmSync(dir, { recursive: true, force: true });

const base = rows[0]?.[1] ?? 0;
console.log(`idle RSS of one executable per part (Bun ${Bun.version}):`);
for (const [name, mb, anon] of rows) {
  const added = name === rows[0]?.[0] ? "" : ` (+${(mb - base).toFixed(1)})`;
  console.log(`  ${name.padEnd(55)} ${`${mb.toFixed(1)} MB${added}`.padEnd(17)} ${anon.toFixed(1)} MB anonymous`);
}
