import { AuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { describe, expect, it } from "vitest";
import { toUpstreamError } from "../../../shared/adapters/azure-errors.js";

const context = { service: "registry", action: "reading manifest app:1" };

describe("toUpstreamError with the app's credential failing", () => {
  it.each([
    ["an IMDS timeout", new CredentialUnavailableError("ManagedIdentityCredential: no response from IMDS"), true, "registry: reading manifest app:1 failed: no token for the app's identity yet (CredentialUnavailableError); retried"],
    ["a token service 429", new AuthenticationError(429, { error: "throttled", error_description: "slow down" }), true, "registry: reading manifest app:1 failed: no token for the app's identity yet (AuthenticationError); retried"],
    ["a refused identity", new AuthenticationError(401, { error: "unauthorized_client", error_description: "the identity is unknown" }), false, "registry: reading manifest app:1 failed: the token service refused the app's identity (HTTP 401); check the identity and its role assignments"],
  ])("maps %s (retryable: %s)", (_, error, retryable, message) => {
    expect(toUpstreamError(error, context)).toMatchObject({ code: "upstream_failed", retryable, message });
  });
});
