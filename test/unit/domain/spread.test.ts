import { describe, expect, it } from "vitest";
import { stableOffsetMs } from "../../../shared/domain/spread.js";

describe("stable offsets", () => {
  it("are 32-bit FNV-1a of the key modulo the range (stored schedules must keep their place)", () => {
    // FNV-1a("a") = 3826002220, ("b") = 3876335077, ("r.io/app:1") = 151853652, ("") = 2166136261 (the offset basis).
    expect([stableOffsetMs("a", 1000), stableOffsetMs("b", 1000), stableOffsetMs("r.io/app:1", 3_600_000), stableOffsetMs("", 1000)]).toEqual([220, 77, 653_652, 261]);
  });

  it("round a fractional range down and treat a range under one millisecond as one (offset 0)", () => {
    expect([stableOffsetMs("a", 1000.9), stableOffsetMs("a", 0.5), stableOffsetMs("a", 0), stableOffsetMs("a", -5)]).toEqual([220, 0, 0, 0]);
  });
});
