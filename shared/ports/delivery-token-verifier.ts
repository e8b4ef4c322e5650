/** The outcome of checking a bearer token: who presented it, or why it is refused (never the token itself). */
export type TokenCheck =
  | { readonly ok: true; readonly subject: string }
  | { readonly ok: false; readonly reason: string };

/** Checks the Microsoft Entra bearer token Event Grid sends with each webhook delivery. */
export interface DeliveryTokenVerifier {
  /**
   * Checks an `Authorization` header value (`Bearer <JWT>`): signature against the issuer's published
   * keys, algorithm, issuer, audience, lifetime and app role. Refusals carry a short reason naming the
   * failed check, never the token. Idempotent, apart from fetching and caching the issuer's keys.
   * @throws UpstreamError (retryable) when the issuer's keys cannot be fetched: the sender retries.
   */
  verify(authorization: string | undefined): Promise<TokenCheck>;
}
