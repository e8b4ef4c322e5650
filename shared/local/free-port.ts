import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: listens on port 0, reads the port the kernel chose,
 * and closes. Another process may take it before the caller binds, so callers that start a server on it
 * should retry with a new port when the bind fails.
 */
export async function findFreePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
