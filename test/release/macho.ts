/**
 * @module Reads a Mach-O executable's code signature and recomputes its page hashes, so a darwin build can be
 * checked on Linux: macOS kills a process whose pages do not match its CodeDirectory (Apple silicon runs
 * nothing without one). Layout: <mach-o/loader.h> (LC_CODE_SIGNATURE) and Apple's cs_blobs.h (SuperBlob,
 * CodeDirectory, both big-endian).
 */
import { createHash } from "node:crypto";

const MH_MAGIC_64 = 0xfeedfacf;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSSLOT_CODEDIRECTORY = 0;
const HASHES: Record<number, string> = { 1: "sha1", 2: "sha256" };

export interface CodeSignature {
  /** Where the signature starts: the pages before it are the ones hashed. */
  offset: number;
  flags: number;
  identifier: string;
  hash: string;
  pageSize: number;
  codeLimit: number;
  pages: number;
  /** Indexes of the pages whose hash does not match the file. */
  mismatched: number[];
}

export function readCodeSignature(file: Buffer): CodeSignature {
  if (file.readUInt32LE(0) !== MH_MAGIC_64) throw new Error("not a 64-bit little-endian Mach-O file");
  const commands = file.readUInt32LE(16);
  let at = 32;
  for (let i = 0; i < commands; i++) {
    const cmd = file.readUInt32LE(at);
    if (cmd === LC_CODE_SIGNATURE) return readSuperBlob(file, file.readUInt32LE(at + 8));
    at += file.readUInt32LE(at + 4);
  }
  throw new Error("no LC_CODE_SIGNATURE: the file is not signed");
}

function readSuperBlob(file: Buffer, offset: number): CodeSignature {
  if (file.readUInt32BE(offset) !== CSMAGIC_EMBEDDED_SIGNATURE) throw new Error("no embedded signature blob");
  const count = file.readUInt32BE(offset + 8);
  for (let i = 0; i < count; i++) {
    const type = file.readUInt32BE(offset + 12 + i * 8);
    if (type === CSSLOT_CODEDIRECTORY)
      return readCodeDirectory(file, offset, offset + file.readUInt32BE(offset + 16 + i * 8));
  }
  throw new Error("the signature has no CodeDirectory");
}

function readCodeDirectory(file: Buffer, signatureOffset: number, cd: number): CodeSignature {
  if (file.readUInt32BE(cd) !== CSMAGIC_CODEDIRECTORY) throw new Error("bad CodeDirectory magic");
  const flags = file.readUInt32BE(cd + 12);
  const hashOffset = file.readUInt32BE(cd + 16);
  const identOffset = file.readUInt32BE(cd + 20);
  const pages = file.readUInt32BE(cd + 28);
  const codeLimit = file.readUInt32BE(cd + 32);
  const hashSize = file.readUInt8(cd + 36);
  const hash = HASHES[file.readUInt8(cd + 37)];
  if (!hash) throw new Error(`unknown hash type ${file.readUInt8(cd + 37)}`);
  const pageSize = 2 ** file.readUInt8(cd + 39);
  const identifier = file.toString("latin1", cd + identOffset, file.indexOf(0, cd + identOffset));
  const mismatched: number[] = [];
  for (let page = 0; page < pages; page++) {
    const start = page * pageSize;
    const actual = createHash(hash)
      .update(file.subarray(start, Math.min(start + pageSize, codeLimit)))
      .digest();
    const slot = cd + hashOffset + page * hashSize;
    if (!actual.equals(file.subarray(slot, slot + hashSize))) mismatched.push(page);
  }
  return { offset: signatureOffset, flags, identifier, hash, pageSize, codeLimit, pages, mismatched };
}
