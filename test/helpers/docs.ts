/**
 * @module What the docs test checks, as functions of text so a unit case can feed them a broken page: the ```yaml
 * blocks of a markdown page (each must pass `payhook check`), its relative links and #anchors, and the docs
 * paths a source file cites. `payhook check` runs in-process through the CLI's `run()`, which takes the argv and
 * an Io, so a hundred blocks cost well under a second.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { run } from "../../src/cli/run.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { trackFolder } from "./cleanup.ts";

export const ROOT = resolve(import.meta.dir, "../..");

/** A block whose first line starts with this is part of a config; it is checked inside MINIMAL. */
export const FRAGMENT = "# fragment";

/**
 * What a fragment is completed with: an endpoint (a mapping fragment's own keys replace these), and a Stripe key
 * for the fragments that use Stripe's API. A list fragment is a list of actions, checked as handlers."*".
 */
export const MINIMAL = {
  endpoints: [{ path: "/webhook", secrets: ["${STRIPE_WEBHOOK_SECRET}"] }],
  stripe: { api_key: "${STRIPE_API_KEY}" },
};

/** The environment the examples are checked in: every ${VAR} the docs use needs a value of the right shape here. */
export const DOC_ENV: Record<string, string> = {
  STRIPE_WEBHOOK_SECRET: "whsec_docsexamplesecret",
  STRIPE_WEBHOOK_SECRET_PREVIOUS: "whsec_docsexampleprevious",
  STRIPE_API_KEY: "sk_test_docsexample",
  PAYHOOK_ADMIN_TOKEN: "docs-example-admin-token",
  PAYHOOK_TOKEN_ANA: "docs-example-token-of-ana",
  PAYHOOK_TOKEN_SUPPORT: "docs-example-token-of-support",
  PAYHOOK_FORWARD_SECRET: "whsec_ZG9jcyBleGFtcGxlIGZvcndhcmQgc2VjcmV0IDMyYg==",
  INTERNAL_TOKEN: "docs-example-internal-token",
  APP_WEBHOOK_SECRET: "whsec_docsexampleapp",
  STRIPE_WEBHOOK_SECRET_SHADOW: "whsec_docsexampleshadow",
  STRIPE_CONNECT_WEBHOOK_SECRET: "whsec_docsexampleconnect",
  DATABASE_URL: "postgres://payhook:password@127.0.0.1:5432/payhook",
  SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T000/B000/docsexample",
  DISCORD_WEBHOOK_URL: "https://discord.com/api/webhooks/1/docsexample",
  ALERT_WEBHOOK_URL: "https://alerts.example.com/payhook",
  ALERT_SIGNING_SECRET: "whsec_ZG9jcyBleGFtcGxlIGFsZXJ0IHNlY3JldCAzMmI=",
};

export interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
}

/** The fenced code blocks of a markdown text, with the line each starts on (1-based, the fence's line). */
export function codeBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const indent = (open[1] as string).length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] as string); j++)
      body.push((lines[j] as string).slice(indent));
    blocks.push({ file, line: i + 1, lang: open[2] as string, text: body.join("\n") });
    i = j;
  }
  return blocks;
}

/** A folder to check configs in, holding the stand-in TLS files the TLS examples name. */
export function checkFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "payhook-docs-"));
  trackFolder(dir);
  for (const name of ["fullchain.pem", "privkey.pem"]) writeFileSync(join(dir, name), "");
  return dir;
}

/** The config text `payhook check` gets for a block: the block itself, or a fragment completed with MINIMAL. */
export function configText(block: Block): string {
  if (!block.text.startsWith(FRAGMENT)) return block.text;
  const fragment = parse(block.text) as unknown;
  if (Array.isArray(fragment)) return stringify({ ...MINIMAL, handlers: { "*": fragment } });
  if (fragment === null || typeof fragment !== "object") throw new Error("a fragment must be a mapping or a list");
  return stringify({ ...MINIMAL, ...fragment });
}

/** Runs `payhook check` in-process on a yaml block; resolves to "" when it passes, else what check said. */
export async function checkBlock(block: Block, folder: string): Promise<string> {
  const lines: string[] = [];
  let text: string;
  try {
    text = configText(block);
  } catch (error) {
    return `${block.file}:${block.line}: ${(error as Error).message}`;
  }
  const path = join(folder, "payhook.yaml");
  writeFileSync(path, text);
  const io = { out: () => {}, err: (line: string) => lines.push(line), env: { PATH: process.env.PATH, ...DOC_ENV } };
  const code = await run(bunRuntime, ["check", "--config", path, "--log-format", "json"], io);
  return code === 0 ? "" : `${block.file}:${block.line}: payhook check exited ${code}:\n${lines.join("\n")}`;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, … */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*```/.test(line)) fence = !fence;
    const heading = fence ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = (heading[1] as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** The link targets of a markdown text outside code blocks and code spans, with their lines. */
export function links(markdown: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  let fence = false;
  markdown.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fence = !fence;
    if (fence) return;
    const prose = line.replace(/`[^`]*`/g, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g))
      found.push({ target: m[1] as string, line: i + 1 });
  });
  return found;
}

/**
 * Problems with one relative target seen from `from` (a file under ROOT): a missing file, or a #anchor that is
 * not a heading of the markdown file it points into. Web addresses are not followed.
 */
export function targetProblem(from: string, target: string, read = readText): string | undefined {
  if (/^[a-z]+:/i.test(target)) return undefined;
  const [path = "", anchor] = target.split("#", 2);
  const file = path === "" ? from : resolve(dirname(from), path);
  if (!file.startsWith(ROOT)) return `${target} leaves the repository`;
  const text = read(file);
  if (text === undefined) return `${target}: ${relative(ROOT, file)} does not exist`;
  if (anchor !== undefined && !anchors(text).has(anchor))
    return `${target}: no heading #${anchor} in ${relative(ROOT, file)}`;
  return undefined;
}

function readText(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return file.endsWith(".md") ? readFileSync(file, "utf8") : "";
}

/** The docs paths a source text cites: a page under docs/ or README.md or CONTRIBUTING.md, with any #anchor. */
export function citedDocs(source: string): string[] {
  return [...source.matchAll(/\b((?:docs\/[\w-]+|README|CONTRIBUTING)\.md(?:#[\w-]+)?)/g)].map((m) => m[1] as string);
}
