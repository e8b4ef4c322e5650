import net from "node:net";

/** A loopback listener that counts the connections it is sent (closing each): a stand-in host, or a foreign one nothing may reach. */
export interface CountingListener {
  readonly host: string;
  readonly connections: () => number;
  readonly close: () => Promise<void>;
}

export async function startCountingListener(): Promise<CountingListener> {
  let count = 0;
  const server = net.createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { host: `127.0.0.1:${port}`, connections: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
