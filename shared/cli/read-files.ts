/** Reading the many files a CLI command is given: one failure not failing the rest. */
import { readFileSync } from "node:fs";

/** One file's text, or the error code (`ENOENT`, `EACCES`, `EISDIR`, …) that kept it from being read. */
export type FileRead = { readonly ok: true; readonly file: string; readonly text: string } | { readonly ok: false; readonly file: string; readonly code: string };

/**
 * Reads one file as UTF-8 text, blocking; returns its error code instead of throwing. For a batch of small
 * local files this is the quickest way: over 5,000 Dockerfiles about a third of the time of reading 32 at a
 * time asynchronously, where every file costs four trips through the thread pool (open, stat, read, close).
 */
export function readTextFileSync(file: string): FileRead {
  try {
    return { ok: true, file, text: readFileSync(file, "utf8") };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, file, code: code ?? "EIO" };
  }
}
