import { readFile, writeFile } from "node:fs/promises";
import { imageName, isDigest, parseImageRef } from "../domain/image-ref.js";
import { bumpPins, classifyPinFile, type BumpTarget } from "../domain/pins.js";
import { AppError, ValidationError } from "../errors.js";
import { shortDigest } from "./output.js";

export interface BumpCommandOptions {
  /** `NAME[:TAG][@sha256:OLD]`: the reference to bump; a tag or old digest narrows the match. */
  image: string;
  /** The new digest. */
  digest: string;
  /** Also pin matching references that have no digest yet. */
  pin: boolean;
  /** Rewrite the file in place (and print a summary on stderr) instead of printing it on stdout. */
  write: boolean;
}

/**
 * `ripple bump FILE --image NAME[:TAG][@OLD] --digest NEW [--pin] [--write]`: moves the digest of one
 * image reference in a Dockerfile, Compose file, Kubernetes manifest, Helm values or workflow file,
 * leaving every other byte (BOM and line endings included) as it was. Prints the rewritten file on stdout,
 * or with `write` rewrites the file and prints one line on stderr. Idempotent.
 *
 * Throws a ValidationError for a bad `--image` or `--digest` or a file of no known kind, an AppError
 * `file_unreadable` / `file_not_utf8` for a file it cannot read or would not write back byte for byte, and
 * an AppError `reference_not_found` when no reference in the file matches.
 */
export async function bumpCommand(file: string, options: BumpCommandOptions): Promise<number> {
  const target = parseTarget(options.image);
  if (!isDigest(options.digest)) {
    throw new ValidationError(`--digest "${options.digest}" is not a digest (sha256: and 64 hex characters)`, [{ path: "--digest", message: "not a digest" }]);
  }
  if (classifyPinFile(file) === null) {
    throw new ValidationError(`${file} is not a Dockerfile, Containerfile or YAML file`, [{ path: "FILE", message: "unknown file kind" }]);
  }
  const text = await readText(file);

  const result = bumpPins(file, text, target, options.digest, { pin: options.pin });
  if (result === null) {
    const pinHint = options.pin ? "" : " (use --pin to pin references that have no digest yet)";
    throw new AppError("reference_not_found", `${file}: no reference to ${options.image} that can be bumped${pinHint}`, { details: { file, image: options.image } });
  }
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
  const parsed = parseImageRef(image, { defaultTag: false });
  if (!parsed.ok) throw new ValidationError(`--image "${image}": ${parsed.reason}`, [{ path: "--image", message: parsed.reason }]);
  return { name: imageName(parsed.value), tag: parsed.value.tag, digest: parsed.value.digest };
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
