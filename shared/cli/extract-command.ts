import { extractImages, type ExtractedImage } from "../domain/dockerfile.js";
import { createJsonArrayPrinter, printTable } from "./output.js";
import { readTextFileSync } from "./read-files.js";

/** One file of `ripple extract`: its image references, or why it could not be read. */
export type ExtractEntry = { file: string; images: ExtractedImage[] } | { file: string; error: string };

/**
 * `ripple extract [--json] FILE...`: the image references of each Dockerfile, in the order given. A file
 * that cannot be read (missing, a folder, no permission) gets its error in its entry (`{file, error}`) and
 * on stderr; the other files are reported all the same. Returns 1 when any file could not be read, else 0.
 * Never throws for a file.
 */
export async function extractCommand(files: readonly string[], json: boolean): Promise<number> {
  // Each entry is printed as soon as its file is read, so that a batch's results are not all kept until its end.
  const printer = json ? createJsonArrayPrinter() : { push: printEntry, end: () => undefined };
  let failed = false;
  for (const file of files) {
    const entry = extractEntry(file);
    if ("error" in entry) {
      failed = true;
      process.stderr.write(`ripple: ${entry.error}\n`);
    }
    printer.push(entry);
  }
  printer.end();
  return failed ? 1 : 0;
}

/**
 * One file's entry. Files are read one at a time and blocking: for many small local files that is quicker
 * than reading them concurrently (see {@link readTextFileSync}).
 */
function extractEntry(file: string): ExtractEntry {
  const read = readTextFileSync(file);
  return read.ok ? { file: read.file, images: extractImages(read.text) } : { file: read.file, error: `cannot read ${read.file}: ${read.code}` };
}

function printEntry(entry: ExtractEntry): void {
  if ("error" in entry) return;
  process.stdout.write(`${entry.file}\n`);
  printTable(
    entry.images.map((image) => [
      String(image.line),
      image.instruction,
      image.unresolved ? `(unresolved) ${image.raw ?? ""}` : `${image.name}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`,
      image.platform ?? "",
      image.stage ?? "",
    ]),
    ["LINE", "INSTRUCTION", "IMAGE", "PLATFORM", "STAGE"],
  );
}
