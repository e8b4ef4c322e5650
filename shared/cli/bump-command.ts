import { readFile, writeFile } from "node:fs/promises";
import { imageName, isReferenceDigest, parseImageRef } from "../domain/image-ref.js";
import { bumpPins, resolvePinFileKind, type BumpTarget, type PinFileFormat } from "../domain/pins.js";
import { AppError, ValidationError } from "../errors.js";
import { shortDigest } from "./output.js";

export interface BumpCommandOptions {
  /**
   * `NAME[:TAG][@sha256:OLD]`: the reference to bump. Without a tag, only references written without a
   * tag (`FROM node`, `FROM node@sha256:…`); `NAME:*` for every tag. An old digest narrows the match.
   */
  image: string;
  /** The new digest. */
  digest: string;
  /** Also pin matching references that have no digest yet. */
  pin: boolean;
  /** Rewrite the file in place (and print a summary on stderr) instead of printing it on stdout. */
  write: boolean;
  /** `dockerfile` or `yaml`: read the file in this format whatever its name; by default its name tells. */
  format?: string | undefined;
}

const FORMATS: readonly PinFileFormat[] = ["dockerfile", "yaml"];
/** `NAME:*` or `NAME:*@DIGEST`: every tag of NAME. */
const ANY_TAG = /^(.*):\*(@[^@]*)?$/;

/**
 * `ripple bump FILE --image NAME[:TAG|:*][@OLD] --digest NEW [--pin] [--write] [--format dockerfile|yaml]`:
 * moves the digest of one image reference in a Dockerfile, Compose file, Kubernetes manifest, Helm values
 * or workflow file, leaving every other byte (BOM and line endings included) as it was. A NAME without a
 * tag means the references written without a tag; `NAME:*` means every tag. Prints the rewritten file on
 * stdout, or with `write` rewrites the file and prints one line on stderr. Idempotent.
 *
 * Throws a ValidationError for a bad `--image`, `--digest` or `--format` or a file whose kind its name does
 * not tell (without `--format`), an AppError `file_unreadable` / `file_not_utf8` for a file it cannot read
 * or would not write back byte for byte, and an AppError `reference_not_found` when no reference in the
 * file matches (saying so when tagged references would have matched `NAME:*`).
 */
export async function bumpCommand(file: string, options: BumpCommandOptions): Promise<number> {
  const target = parseTarget(options.image);
  if (!isReferenceDigest(options.digest)) {
    throw new ValidationError(`--digest "${options.digest}" is not a digest (sha256: and 64 hex characters)`, [{ path: "--digest", message: "not a digest" }]);
  }
  const format = parseFormat(options.format);
  if (resolvePinFileKind(file, format) === null) {
    throw new ValidationError(`${file} is not a Dockerfile, Containerfile or YAML file by its name; name its format with --format dockerfile|yaml`, [
      { path: "FILE", message: "unknown file kind" },
    ]);
  }
  const text = await readText(file);

  const result = bumpPins(file, text, target, options.digest, { pin: options.pin, format });
  if (result === null) throw notFound(file, text, target, options);
  if (!options.write) {
    process.stdout.write(result.text);
    return 0;
  }
  if (result.text !== text) await writeFile(file, result.text, "utf8");
  const lines = result.changes.map((change) => change.line).join(", ");
  process.stderr.write(
    result.changes.length === 0
      ? `${file}: ${options.image} already at ${shortDigest(options.digest)}\n`
      : `${file}: ${options.image} → ${shortDigest(options.digest)} on line${result.changes.length === 1 ? "" : "s"} ${lines}\n`,
  );
  return 0;
}

function parseTarget(image: string): BumpTarget {
  const anyTag = ANY_TAG.exec(image);
  const written = anyTag === null ? image : `${anyTag[1] ?? ""}${anyTag[2] ?? ""}`;
  const parsed = parseImageRef(written, { defaultTag: false });
  if (!parsed.ok) throw new ValidationError(`--image "${image}": ${parsed.reason}`, [{ path: "--image", message: parsed.reason }]);
  const { tag, digest } = parsed.value;
  if (anyTag !== null && tag !== null) {
    const reason = "a tag and :* together: name one tag, or :* for every tag";
    throw new ValidationError(`--image "${image}": ${reason}`, [{ path: "--image", message: reason }]);
  }
  return { name: imageName(parsed.value), tag, digest, untagged: anyTag === null && tag === null };
}

function parseFormat(format: string | undefined): PinFileFormat | undefined {
  if (format === undefined) return undefined;
  const known = FORMATS.find((candidate) => candidate === format);
  if (known === undefined) throw new ValidationError(`--format "${format}" is not dockerfile or yaml`, [{ path: "--format", message: "not dockerfile or yaml" }]);
  return known;
}

/** No reference matched; when the name without a tag was meant as every tag, say how to ask for that. */
function notFound(file: string, text: string, target: BumpTarget, options: BumpCommandOptions): AppError {
  const details = { details: { file, image: options.image } };
  const format = parseFormat(options.format);
  if (target.untagged === true && bumpPins(file, text, { ...target, untagged: false }, options.digest, { pin: options.pin, format }) !== null) {
    const name = options.image.replace(/@.*$/, "");
    const hint = `references of ${name} with a tag match only when named: --image ${name}:TAG, or --image '${name}:*' for every tag`;
    return new AppError("reference_not_found", `${file}: no reference to ${options.image} without a tag that can be bumped; ${hint}`, details);
  }
  const pinHint = options.pin ? "" : " (use --pin to pin references that have no digest yet)";
  return new AppError("reference_not_found", `${file}: no reference to ${options.image} that can be bumped${pinHint}`, details);
}

/** The file as UTF-8 text, BOM kept; refuses bytes that would not survive the round trip. */
async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new AppError("file_unreadable", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const text = bytes.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(bytes)) throw new AppError("file_not_utf8", `${file} is not UTF-8 text; it would not be written back byte for byte`);
  return text;
}
