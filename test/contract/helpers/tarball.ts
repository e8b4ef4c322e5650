import { gunzipSync, gzipSync } from "node:zlib";

/** One file of a test tarball: its text, and whether it is a symbolic link to that text. */
export interface TarFile {
  readonly content: string;
  readonly symlink?: boolean;
}

const BLOCK = 512;

/**
 * A gzipped tarball as GitHub's `tarball/{ref}` serves it (git archive): a pax global header carrying the
 * commit id, then every file under one top-level folder. Paths over 100 bytes use a pax `path` record.
 */
export function makeGitHubTarball(topFolder: string, commit: string, files: Readonly<Record<string, TarFile>>): Buffer {
  const blocks: Buffer[] = [...entry("pax_global_header", "g", Buffer.from(paxRecord("comment", commit)))];
  blocks.push(...entry(`${topFolder}/`, "5", Buffer.alloc(0)));
  for (const [path, file] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const name = `${topFolder}/${path}`;
    if (Buffer.byteLength(name) > 100) blocks.push(...entry("PaxHeader", "x", Buffer.from(paxRecord("path", name))));
    blocks.push(...(file.symlink === true ? entry(name.slice(0, 100), "2", Buffer.alloc(0), file.content) : entry(name.slice(0, 100), "0", Buffer.from(file.content))));
  }
  blocks.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(blocks));
}

/** The files of a gzipped tarball by path (regular files' text, symlinks as `-> target`), pax `path` records applied. */
export function readTarball(gzipped: Uint8Array): Record<string, string> {
  const tar = gunzipSync(gzipped);
  const files: Record<string, string> = {};
  let longPath: string | null = null;
  for (let offset = 0; offset + BLOCK <= tar.length; ) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const size = Number.parseInt(field(header, 124, 12) || "0", 8);
    const data = tar.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156] ?? 0);
    if (type === "x") {
      longPath = /\d+ path=(.*)\n/.exec(data.toString("utf8"))?.[1] ?? null;
      continue;
    }
    const prefix = field(header, 345, 155);
    const path = longPath ?? (prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`);
    longPath = null;
    if (type === "0") files[path] = data.toString("utf8");
    else if (type === "2") files[path] = `-> ${field(header, 157, 100)}`;
    else if (type === "5") files[path] = "<dir>";
    else files[path] = `<type ${type}>`;
  }
  return files;
}

function entry(name: string, type: string, data: Buffer, link = ""): Buffer[] {
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, "utf8");
  header.write(type === "5" ? "0000775\0" : "0000664\0", 100, 8, "ascii");
  header.write("0000000\0", 108, 8, "ascii");
  header.write("0000000\0", 116, 8, "ascii");
  header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  header.write("14650000000\0", 136, 12, "ascii");
  header.write(type, 156, 1, "ascii");
  header.write(link, 157, 100, "utf8");
  header.write("ustar\0", 257, 6, "ascii");
  header.write("00", 263, 2, "ascii");
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  const padding = data.length % BLOCK === 0 ? 0 : BLOCK - (data.length % BLOCK);
  return [header, data, Buffer.alloc(padding)];
}

function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return `${length}${rest}`;
}

function field(block: Buffer, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return bytes.toString("utf8", 0, end === -1 ? bytes.length : end);
}
