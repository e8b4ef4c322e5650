import { Webhooks } from "@octokit/webhooks";
import { ConfigError } from "../../errors.js";

export interface GitHubWebhookDelivery {
  /** The webhook secret configured on the GitHub App or repository. */
  readonly secret: string;
  /** The request body exactly as received (before any JSON parsing), as UTF-8 text. */
  readonly payload: string;
  /** The `X-Hub-Signature-256` header (`sha256=<hex>`); missing or empty never verifies. */
  readonly signature: string | null | undefined;
}

/**
 * Whether `signature` is the HMAC-SHA256 of `payload` under `secret`, compared in constant time by
 * `@octokit/webhooks`. A missing, empty or malformed signature and an empty payload answer false; only
 * SHA-256 signatures are accepted (the legacy `X-Hub-Signature` SHA-1 header is not).
 *
 * @throws ConfigError when `secret` is empty: a misconfiguration must not look like a bad delivery.
 */
export async function verifyGitHubWebhook(delivery: GitHubWebhookDelivery): Promise<boolean> {
  if (delivery.secret === "") throw new ConfigError("the GitHub webhook secret is empty", [{ path: "secret", message: "empty" }]);
  const { payload, signature } = delivery;
  if (payload === "" || signature === null || signature === undefined || !signature.startsWith("sha256=")) return false;
  return new Webhooks({ secret: delivery.secret }).verify(payload, signature);
}
