/**
 * @module Config text → plain data: YAML (and so JSON) parsed with duplicate keys refused and aliases bounded,
 * syntax errors as `file:line:col` lines, and where in the text each path of the data was written.
 */
import { LineCounter, parseDocument } from "yaml";
import { ConfigError, describe } from "../errors.ts";
import type { Path } from "./path.ts";

/** How many times the values one alias stands for may be repeated (the yaml library's count of expanded nodes). */
const MAX_ALIAS_COUNT = 100;

export interface ParsedText {
  /** The document as plain data. */
  data: unknown;
  /** Where `path` was written, as " (line N)" for a message, or "" when it was not (a default). */
  where(path: Path): string;
}

/** Parses YAML or JSON text; a syntax error or an alias bomb is a ConfigError naming `source`. */
export function parseText(text: string, source: string): ParsedText {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = e.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
        return `${source}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML or JSON: ${message}`;
      }),
    );
  }
  const where = (path: Path): string => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? "" : ` (line ${lines.linePos(offset).line})`;
  };
  return { data: toJS(doc, source), where };
}

/** The document as plain data; an alias bomb (aliases expanding into millions of nodes) is a config error. */
function toJS(doc: ReturnType<typeof parseDocument>, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    if (!/alias/i.test(describe(error))) throw error;
    throw new ConfigError([
      `${source}: its YAML aliases (*name) expand into too many values (more than ${MAX_ALIAS_COUNT} per alias); write the values out, or use fewer aliases`,
    ]);
  }
}
