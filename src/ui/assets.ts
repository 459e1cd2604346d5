/**
 * @module The page's stylesheet and script, embedded in the executable at build time (imported as text; the
 * script is bundled from client/ by `make`), served from memory under content-hashed, immutable URLs.
 */
import { createHash } from "node:crypto";
import script from "../../build/ui-client.txt" with { type: "text" };
import style from "./style.css" with { type: "text" };

export interface Asset {
  path: string;
  type: string;
  body: string;
}

export const ASSETS = {
  style: asset("style", "css", "text/css; charset=utf-8", style),
  script: asset("app", "js", "text/javascript; charset=utf-8", script),
};

function asset(name: string, ext: string, type: string, body: string): Asset {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return { path: `/assets/${name}.${hash}.${ext}`, type, body };
}
