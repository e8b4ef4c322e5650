/**
 * The fault suite's notification relay: the local registry notifies it instead of a host, and it forwards
 * each envelope to the local Functions hosts in turn (as Azure's front end spreads requests over
 * instances). It keeps what the registry pushed — every manifest push it was told of — so builds are
 * counted from the registry's own notifications, not from Ripple's records. In `triple` mode each envelope
 * is also delivered twice more, at random delays and to random hosts (duplicated and shuffled delivery).
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
  /** Every manifest push announced so far, in arrival order. */
  readonly pushes: readonly AnnouncedPush[];
  /** Every envelope received from the registry, as sent. */
  readonly envelopes: readonly string[];
  /** Sets the hosts' webhook URLs (after the stack is up). */
  target(webhookUrls: readonly string[]): void;
  /** `triple`: each envelope delivered three times, shuffled; `once`: as received. */
  mode(mode: "once" | "triple"): void;
  /** Deliveries sent and their answers' statuses (a 0 for a connection failure). */
  readonly deliveries: { readonly status: number }[];
  /** Resolves once no extra delivery is waiting. */
  settled(): Promise<void>;
  /** Sends `body` to one host as the registry would (its bearer secret); the answer's status and body. */
  send(body: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

const MANIFEST_TYPES = /manifest|image\.index|manifest\.list/;

export async function startNotificationRelay(options: { secret: () => string }): Promise<NotificationRelay> {
  let targets: readonly string[] = [];
  let current: "once" | "triple" = "once";
  let turn = 0;
  const pushes: AnnouncedPush[] = [];
  const envelopes: string[] = [];
  const deliveries: { status: number }[] = [];
  const waiting = new Set<Promise<unknown>>();

  async function deliver(body: string, url: string): Promise<{ status: number; body: string }> {
    try {
      const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/vnd.docker.distribution.events.v1+json", authorization: `Bearer ${options.secret()}` } });
      const answer = { status: response.status, body: await response.text() };
      deliveries.push({ status: answer.status });
      return answer;
    } catch {
      deliveries.push({ status: 0 });
      return { status: 502, body: "" };
    }
  }

  function record(body: string): void {
    envelopes.push(body);
    const parsed = JSON.parse(body) as { events?: Array<{ action?: string; target?: { repository?: string; tag?: string; digest?: string; mediaType?: string } }> };
    for (const event of parsed.events ?? []) {
      const target = event.target ?? {};
      if (event.action !== "push" || !MANIFEST_TYPES.test(target.mediaType ?? "") || !target.repository || !target.digest) continue;
      pushes.push({ repository: target.repository, tag: target.tag ?? null, digest: target.digest, at: Date.now() });
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = (await readBody(req, 4 * 1024 * 1024)).toString("utf8");
      record(body);
      if (targets.length === 0) {
        res.writeHead(503).end();
        return;
      }
      const answer = await deliver(body, targets[turn++ % targets.length]!);
      if (current === "triple") {
        for (let copy = 0; copy < 2; copy += 1) {
          const late = new Promise((resolve) => setTimeout(resolve, Math.random() * 2_000)).then(() => deliver(body, targets[Math.floor(Math.random() * targets.length)]!));
          waiting.add(late);
          void late.finally(() => waiting.delete(late));
        }
      }
      res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  return {
    url,
    pushes,
    envelopes,
    deliveries,
    target: (urls) => (targets = urls),
    mode: (mode) => (current = mode),
    async settled() {
      while (waiting.size > 0) await Promise.allSettled([...waiting]);
    },
    send: (body) => deliver(body, targets[turn++ % targets.length]!),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
