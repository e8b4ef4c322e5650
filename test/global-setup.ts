/**
 * Runs once before any test file: installs the local stack's Debian packages if they are missing, so
 * that test files starting stacks in parallel never race for the dpkg lock on a fresh machine.
 */
import { ensureStackPackages } from "../shared/local/packages.js";

export default async function setup(): Promise<void> {
  await ensureStackPackages((line) => process.stderr.write(`${line}\n`));
}
