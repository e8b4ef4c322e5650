/**
 * Re-packs a forge's source tarball (GitHub's `tarball/{ref}`: one top-level folder `owner-repo-sha/`,
 * pax headers) into the archive ACR Tasks builds from an uploaded source: the build context's files at
 * the archive root, gzipped, as `az acr build` uploads them. Pure; no I/O.
 */
import { gunzipSync, gzipSync } from "node:zlib";

const BLOCK = 512;
/** Tar entry types whose data is metadata for the next entry, not a file. */
const PAX_EXTENDED = "x";
const PAX_GLOBAL = "g";
const GNU_LONG_NAME = "L";
const GNU_LONG_LINK = "K";
/** The most an archive may inflate to (a source context, not a disk image). */
const MAX_INFLATED_BYTES = 2 * 1024 * 1024 * 1024;

/** A source archive that cannot be read as a tarball of one top-level folder. */
export class SourceArchiveError extends Error {
  override readonly name = "SourceArchiveError";
}

interface TarEntry {
  readonly header: Buffer;
  readonly path: string;
  readonly linkPath: string | null;
  readonly data: Buffer;
}

/**
 * The entries of `gzipped` under `<top folder>/<context>/`, renamed relative to the context, gzipped
 * again. `context` is `.` for the repository root. Modes, times, types and link targets are kept;
 * global pax headers (GitHub's commit comment) are dropped.
 * @throws SourceArchiveError when the bytes are not a gzipped tar, or the context holds no entry.
 */
export function repackSourceArchive(gzipped: Uint8Array, context: string): Buffer {
  let tar: Buffer;
  try {
    tar = gunzipSync(gzipped, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch {
    throw new SourceArchiveError("the source archive is not gzip data");
  }
  const prefix = context === "." ? "" : `${context}/`;
  const blocks: Buffer[] = [];
  let kept = 0;
  for (const entry of readEntries(tar)) {
    const inRepository = entry.path.replace(/^[^/]+\/?/, "");
    if (!inRepository.startsWith(prefix)) continue;
    const path = inRepository.slice(prefix.length);
    // The root folder itself, and anything that would land outside the context when ACR unpacks it.
    if (path === "" || path.startsWith("/") || path.split("/").includes("..")) continue;
    blocks.push(...writeEntry(entry, path));
    kept += 1;
  }
  if (kept === 0) throw new SourceArchiveError(`the source archive holds nothing under ${context}`);
  blocks.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(blocks));
}

/** The archive's file entries, with the long names of pax and GNU headers applied. */
function* readEntries(tar: Buffer): Generator<TarEntry> {
  let offset = 0;
  let pending: { path?: string; linkPath?: string } = {};
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return;
    if (!checksumMatches(header)) throw new SourceArchiveError(`the source archive has a bad tar header at byte ${offset}`);
    const size = readOctal(header, 124, 12);
    const data = tar.subarray(offset + BLOCK, offset + BLOCK + size);
    if (data.length < size) throw new SourceArchiveError("the source archive is truncated");
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156] ?? 0);
    if (type === PAX_GLOBAL) continue;
    if (type === PAX_EXTENDED) {
      const records = readPaxRecords(data);
      pending = { ...pending, ...(records.path === undefined ? {} : { path: records.path }), ...(records.linkpath === undefined ? {} : { linkPath: records.linkpath }) };
      continue;
    }
    if (type === GNU_LONG_NAME || type === GNU_LONG_LINK) {
      const text = readString(data, 0, data.length);
      pending = type === GNU_LONG_NAME ? { ...pending, path: text } : { ...pending, linkPath: text };
      continue;
    }
    const ustarPrefix = readString(header, 345, 155);
    const name = readString(header, 0, 100);
    const path = pending.path ?? (ustarPrefix === "" ? name : `${ustarPrefix}/${name}`);
    const link = pending.linkPath ?? readString(header, 157, 100);
    pending = {};
    yield { header, path, linkPath: link === "" ? null : link, data };
  }
}

/** The entry under its new path: a pax header first when the path or link does not fit ustar's fields. */
function writeEntry(entry: TarEntry, path: string): Buffer[] {
  const header = Buffer.from(entry.header);
  header.fill(0, 0, 100);
  header.fill(0, 345, 500);
  const blocks: Buffer[] = [];
  const records: Record<string, string> = {};
  const split = splitUstarPath(path);
  if (split === null) records.path = path;
  else {
    header.write(split.name, 0, 100, "utf8");
    header.write(split.prefix, 345, 155, "utf8");
  }
  if (entry.linkPath !== null && Buffer.byteLength(entry.linkPath) > 100) {
    header.fill(0, 157, 257);
    records.linkpath = entry.linkPath;
  } else if (entry.linkPath !== null) {
    header.fill(0, 157, 257);
    header.write(entry.linkPath, 157, 100, "utf8");
  }
  if (Object.keys(records).length > 0) blocks.push(...paxHeader(records));
  writeChecksum(header);
  blocks.push(header, padded(entry.data));
  return blocks;
}

/** ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes) for `path`; null when it fits neither way. */
function splitUstarPath(path: string): { name: string; prefix: string } | null {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  for (let index = path.indexOf("/"); index !== -1; index = path.indexOf("/", index + 1)) {
    const prefix = path.slice(0, index);
    const name = path.slice(index + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== "") return { name, prefix };
  }
  return null;
}

function paxHeader(records: Record<string, string>): Buffer[] {
  const body = Buffer.from(Object.entries(records).map(([key, value]) => paxRecord(key, value)).join(""), "utf8");
  const header = Buffer.alloc(BLOCK);
  header.write("PaxHeader", 0, 100, "utf8");
  header.write("0000644\0", 100, 8, "ascii");
  header.write("0000000\0", 108, 8, "ascii");
  header.write("0000000\0", 116, 8, "ascii");
  header.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  header.write("00000000000\0", 136, 12, "ascii");
  header.write(PAX_EXTENDED, 156, 1, "ascii");
  header.write("ustar\0", 257, 6, "ascii");
  header.write("00", 263, 2, "ascii");
  writeChecksum(header);
  return [header, padded(body)];
}

/** A pax record, `<length> <key>=<value>\n`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return `${length}${rest}`;
}

function readPaxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number.parseInt(data.toString("ascii", offset, space), 10);
    if (space === -1 || !Number.isInteger(length) || length <= 0) throw new SourceArchiveError("the source archive has a bad pax header");
    const record = data.toString("utf8", space + 1, offset + length - 1);
    const equals = record.indexOf("=");
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}

function padded(data: Buffer): Buffer {
  const remainder = data.length % BLOCK;
  return remainder === 0 ? Buffer.from(data) : Buffer.concat([data, Buffer.alloc(BLOCK - remainder)]);
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.toString("utf8", 0, end === -1 ? field.length : end);
}

function readOctal(block: Buffer, offset: number, length: number): number {
  const text = readString(block, offset, length).trim();
  const value = text === "" ? 0 : Number.parseInt(text, 8);
  if (!Number.isSafeInteger(value) || value < 0) throw new SourceArchiveError("the source archive has a bad tar size field");
  return value;
}

function headerSum(header: Buffer): number {
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  return sum;
}

function checksumMatches(header: Buffer): boolean {
  return readOctal(header, 148, 8) === headerSum(header);
}

function writeChecksum(header: Buffer): void {
  header.write(`${headerSum(header).toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
}
