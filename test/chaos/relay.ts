/**
 * The fault suite's notification relay: the local registry notifies it instead of a host, and it forwards
 * each envelope to the local Functions hosts in turn (as Azure's front end spreads requests over
 * instances). It keeps what the registry pushed — every manifest push it was told of — so builds are
 * counted from the registry's own notifications, not from Ripple's records. In `triple` mode each envelope
 * is also delivered twice more, at random delays and to random hosts (duplicated and shuffled delivery).
 * Envelopes about chosen repositories can be held back (acknowledged to the registry) and delivered
 * later, to land them at a moment of the test's choosing.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../../shared/local/alert-receivers/receiver-http.js";

/** A manifest push the registry announced: `repository:tag` (tag null for a push by digest). */
export interface AnnouncedPush {
  readonly repository: string;
  readonly tag: string | null;
  readonly digest: string;
  readonly at: number;
}

export interface NotificationRelay {
  /** Where the registry sends its notifications. */
  readonly url: string;
  /** Every manifest push announced so far (once each, however often the registry sent it), in arrival order. */
  readonly pushes: readonly AnnouncedPush[];
  /** Every envelope received from the registry, as sent. */
  readonly envelopes: readonly string[];
  /** Sets the hosts' webhook URLs (after the stack is up). */
  target(webhookUrls: readonly string[]): void;
  /** `triple`: each envelope delivered three times, shuffled; `once`: as received. */
  mode(mode: "once" | "triple"): void;
  /** Deliveries sent and their answers' statuses (a 0 for a connection failure). */
  readonly deliveries: { readonly status: number }[];
  /** Holds back (acknowledging them) the envelopes that announce a push of any of `repositories`; none when empty. */
  hold(repositories: readonly string[]): void;
  /** How many envelopes are held back. */
  held(): number;
  /** Stops holding and delivers the held envelopes, in order; their answers' statuses. */
  release(): Promise<number[]>;
  /** Resolves once no extra delivery is waiting. */
  settled(): Promise<void>;
  /** Sends `body` to one host as the registry would (its bearer secret); the answer's status and body. */
  send(body: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

const MANIFEST_TYPES = /manifest|image\.index|manifest\.list/;

/** The manifest pushes a Distribution envelope announces, with their event ids. */
function announcedPushes(body: string): Array<AnnouncedPush & { id: string }> {
  const parsed = JSON.parse(body) as { events?: Array<{ id?: string; action?: string; target?: { repository?: string; tag?: string; digest?: string; mediaType?: string } }> };
  const found: Array<AnnouncedPush & { id: string }> = [];
  for (const event of parsed.events ?? []) {
    const target = event.target ?? {};
    if (event.action !== "push" || !MANIFEST_TYPES.test(target.mediaType ?? "") || !target.repository || !target.digest) continue;
    found.push({ id: event.id ?? "", repository: target.repository, tag: target.tag ?? null, digest: target.digest, at: Date.now() });
  }
  return found;
}

/** Sends an envelope to a host as the registry would (its bearer secret), noting the answer's status (0: no answer). */
async function deliverEnvelope(body: string, url: string, secret: string, deliveries: { status: number }[]): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/vnd.docker.distribution.events.v1+json", authorization: `Bearer ${secret}` } });
    const answer = { status: response.status, body: await response.text() };
    deliveries.push({ status: answer.status });
    return answer;
  } catch {
    deliveries.push({ status: 0 });
    return { status: 502, body: "" };
  }
}

export async function startNotificationRelay(options: { secret: () => string }): Promise<NotificationRelay> {
  let targets: readonly string[] = [];
  let current: "once" | "triple" = "once";
  let turn = 0;
  const pushes: AnnouncedPush[] = [];
  // The registry sends an envelope again when a delivery failed: a push is counted once, by its event id.
  const seen = new Set<string>();
  const envelopes: string[] = [];
  const deliveries: { status: number }[] = [];
  const waiting = new Set<Promise<unknown>>();
  let holding: readonly string[] = [];
  const heldBack: string[] = [];

  const deliver = (body: string, url: string) => deliverEnvelope(body, url, options.secret(), deliveries);

  /** Records the envelope's pushes; whether it is to be held back. */
  function record(body: string): boolean {
    envelopes.push(body);
    const announced = announcedPushes(body);
    for (const { id, ...push } of announced.filter((push) => !seen.has(push.id))) {
      seen.add(id);
      pushes.push(push);
    }
    return announced.some((push) => holding.includes(push.repository));
  }

  /** Delivers `body` `copies` more times, each within 2 s and to a random host. */
  function deliverLater(body: string, copies: number): void {
    for (let copy = 0; copy < copies; copy += 1) {
      const late = new Promise((resolve) => setTimeout(resolve, Math.random() * 2_000)).then(() => deliver(body, targets[Math.floor(Math.random() * targets.length)]!));
      waiting.add(late);
      void late.finally(() => waiting.delete(late));
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = (await readBody(req, 4 * 1024 * 1024)).toString("utf8");
      if (record(body)) {
        heldBack.push(body);
        res.writeHead(202).end();
        return;
      }
      if (targets.length === 0) {
        res.writeHead(503).end();
        return;
      }
      const answer = await deliver(body, targets[turn++ % targets.length]!);
      if (current === "triple") deliverLater(body, 2);
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    pushes,
    envelopes,
    deliveries,
    target: (urls) => (targets = urls),
    mode: (mode) => (current = mode),
    hold: (repositories) => (holding = repositories),
    held: () => heldBack.length,
    async release() {
      holding = [];
      const statuses: number[] = [];
      for (const body of heldBack.splice(0)) statuses.push((await deliver(body, targets[turn++ % targets.length]!)).status);
      return statuses;
    },
    async settled() {
      while (waiting.size > 0) await Promise.allSettled([...waiting]);
    },
    send: (body) => deliver(body, targets[turn++ % targets.length]!),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
