import { describe, expect, it } from "vitest";
import { alertTitle } from "../../../shared/adapters/alert-sinks/alert-text.js";

describe("alertTitle", () => {
  it.each([
    ["trigger", "warning", "Patch at risk: s"],
    ["trigger", "critical", "Late patch: s"],
    ["update", "critical", "Updated: s"],
    ["renotify", "warning", "Reminder: s"],
    ["escalate", "critical", "Escalated: s"],
    ["resolve", "critical", "Resolved: s"],
  ] as const)("titles a %s of a %s alert", (action, severity, title) => {
    expect(alertTitle({ action, severity, summary: "s" })).toEqual(title);
  });
});
