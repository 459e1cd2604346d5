/**
 * @module The longest functions in src/, by lines from their first line to their closing brace (nested functions
 * count toward the function that holds them). Generated files (their header says "Do not edit") and fixture data
 * are left out. `bun scripts/function-lengths.ts [folder] [--top N]`; test/unit/function-length.test.ts holds
 * src/ to its limit with the same measure.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

export interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
}

/** Every hand-written function under `root`, longest first. */
export function functionLengths(root: string, base = process.cwd()): FunctionLength[] {
  const found: FunctionLength[] = [];
  for (const path of sources(root)) {
    const text = readFileSync(path, "utf8");
    if (generated(path, text)) continue;
    const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && "body" in node && node.body) {
        const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
        const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
        found.push({ file: relative(base, path), name: nameOf(node), line: start + 1, lines: end - start + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found.sort((a, b) => b.lines - a.lines);
}

function* sources(dir: string): Iterable<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Generated catalogs say so in their header; the fixtures are data written as code. */
function generated(path: string, text: string): boolean {
  return /Do not edit/.test(text.slice(0, 600)) || /(^|[/\\])src[/\\]fixtures[/\\]/.test(path);
}

function nameOf(node: ts.Node): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) return parent.name.getText();
  return "(anonymous)";
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const top = args.includes("--top") ? Number(args[args.indexOf("--top") + 1]) : 10;
  const root = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--top") ?? "src";
  for (const f of functionLengths(root).slice(0, top)) console.log(`${f.lines}\t${f.file}:${f.line}\t${f.name}`);
}
