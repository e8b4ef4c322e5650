/**
 * Runs once before any test file: installs the local stack's Debian packages, and Chromium for the page
 * tests, if they are missing, so that test files starting stacks in parallel never race for the dpkg lock
 * on a fresh machine.
 */
import { ensureBrowser, ensureStackPackages } from "../shared/local/packages.js";

export default async function setup(): Promise<void> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  await ensureStackPackages(log);
  await ensureBrowser(log);
}
