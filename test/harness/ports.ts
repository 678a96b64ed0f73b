/**
 * Free loopback TCP ports for test servers.
 *
 * A port is found by listening on 127.0.0.1:0, reading the port the kernel chose and closing the
 * socket. The kernel may hand the same port out again later, so this module remembers every port it
 * returned and never returns one twice in the same process. (Another process can still take a port
 * between our close and the server's bind; `startMember` retries with fresh ports when a server
 * fails with "address already in use".)
 */
import * as net from 'node:net';

const handedOut = new Set<number>();
const attemptsMax = 50;

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listener address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** One free port on 127.0.0.1 that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no new free port after ${attemptsMax} attempts (${handedOut.size} handed out already)`);
}

/** `count` distinct free ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
