import { isUnknownBlobRefusal } from "../../local/buildah.js";

/** Why a buildah pull or push failed on the network: the words that show it, and the registry's HTTP status when it answered one. */
export interface NetworkFailure {
  /** The part of buildah's error that shows the cause, e.g. `connection refused`, `503 Service Unavailable`. */
  readonly cause: string;
  /**
   * 429 or 5xx when the registry answered with one; 400 when it refused a pushed manifest for a blob it
   * does not know (a race between concurrent pushes of the same layers, see `isUnknownBlobRefusal`); null
   * for a failure below HTTP.
   */
  readonly status: number | null;
}

/** Failures below HTTP, as Go's net and TLS packages and containers/image word them. */
const transportFailure =
  /connection refused|connection reset by peer|broken pipe|no route to host|network is unreachable|i\/o timeout|TLS handshake timeout|context deadline exceeded|Client\.Timeout exceeded|timeout awaiting response headers|no such host|server misbehaving|temporary failure in name resolution|unexpected EOF|: EOF$/i;

/** A registry's 429 or 5xx answer, as containers/image reports it (`received unexpected HTTP status: 503 Service Unavailable`, `toomanyrequests: …`). */
const httpFailure = /\b(?:HTTP status|status code|StatusCode)[:=]? ?((?:429|5\d\d)\b(?: [A-Z][a-z]+)*)|\b((?:429|5\d\d) (?:Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout))\b|\b(toomanyrequests)\b/i;

/** A RUN step that exited non-zero: a build failure whatever its own output or command text says. */
const runStepFailure = /while running runtime|exit status \d+$/;

/**
 * Whether the output of a failed buildah command (`bud` or `push`) shows that a pull or push failed on
 * the network — connection refused or reset, a timeout, DNS, or a registry's 429 / 5xx — or that the
 * registry refused a pushed manifest for an unknown blob (a race in the registry), rather than the build
 * itself. Only buildah's own closing `Error: …` line is read: a RUN step's output (which may say
 * "connection refused" about anything) never makes a build failure retryable, and neither does a RUN
 * step's exit. Pure.
 */
export function findNetworkFailure(output: string): NetworkFailure | null {
  const lines = output.split("\n").map((line) => line.trim());
  const errorAt = lines.findLastIndex((line) => /^Error: /i.test(line));
  if (errorAt < 0) return null;
  // The closing error may go on over lines of its own (a registry's list of errors).
  const error = lines.slice(errorAt).filter((line) => line !== "").join("\n");
  if (runStepFailure.test(error)) return null;
  if (isUnknownBlobRefusal(error)) return { cause: "blob unknown to registry", status: 400 };
  const http = httpFailure.exec(error);
  if (http !== null) {
    const cause = (http[1] ?? http[2] ?? http[3] ?? "").trim();
    const status = /^\d{3}/.exec(cause)?.[0];
    return { cause, status: status === undefined ? 429 : Number(status) };
  }
  const transport = transportFailure.exec(error);
  return transport === null ? null : { cause: transport[0].replace(/^: /, ""), status: null };
}
