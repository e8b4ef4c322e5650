import { defineConfig } from "vitest/config";

/** The unit tests alone (no stack, so no global setup): what `npm run mutate` runs against each mutant of the domain. */
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
    pool: "forks",
  },
});
