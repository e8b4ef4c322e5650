import { readdir, readFile } from "node:fs/promises";

/** A live process as /proc shows it. */
export interface ProcessInfo {
  readonly pid: number;
  /** Its process group: a local host's builds run in the host's group. */
  readonly pgid: number;
  readonly cmdline: string;
  readonly environ: string;
}

/** Every live (non-zombie) process with its process group, command line and environment. */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (stat === "" || fields[0] === "Z") continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).replaceAll("\0", " ");
    const environ = (await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "")).replaceAll("\0", " ");
    found.push({ pid: Number(entry), pgid: Number(fields[2]), cmdline, environ });
  }
  return found;
}
