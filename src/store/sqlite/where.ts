/**
 * @module Why a SQLite store cannot be created where the config puts it, in words that lead to the fix: the
 * path payhook tried (resolved), what is wrong with its folder, and where stores usually live.
 */
import { accessSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import process from "node:process";
import { describe } from "../../errors.ts";

/** Where the .deb, the systemd unit (StateDirectory=payhook) and the container image keep the store. */
export const USUAL_STORE_FOLDER = "/var/lib/payhook";

/** The message for a store at `path` that failed to open with `error`. */
export function storeOpenMessage(path: string, error: unknown): string {
  const absolute = resolve(path);
  const folder = dirname(absolute);
  const reason = folderProblem(folder, error);
  if (reason === undefined) return `cannot open the store ${absolute}: ${describe(error)}`;
  return `cannot open the store ${absolute}: ${reason}. Give payhook a folder it can write: stores usually live in ${USUAL_STORE_FOLDER} (the .deb package and the systemd unit's StateDirectory=payhook create it for the payhook user; in the container image it is a volume); set store: ${USUAL_STORE_FOLDER}/payhook.db in the config, or start payhook where it may write (${describe(error)})`;
}

/** What is wrong with the store's folder, or undefined when the folder looks usable (the error is elsewhere). */
function folderProblem(folder: string, error: unknown): string | undefined {
  const code = (error as { code?: string }).code;
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    return `its folder ${folder} does not exist`;
  }
  if (!isFolder) return `${folder} is not a folder`;
  if (code === "EROFS" || /read-only file system/i.test(describe(error))) {
    return `its folder ${folder} is on a read-only file system (a container's image, or a systemd unit with ProtectSystem=strict)`;
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    return `this user (uid ${process.getuid?.() ?? "?"}) may not write in its folder ${folder}`;
  }
  return undefined;
}
