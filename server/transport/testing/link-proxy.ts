/**
 * A TCP proxy on loopback for fault injection between members: point one member's peer URL for
 * another at the proxy, and the proxy decides what happens on that link (one direction of
 * connections: member A dials B through it).
 *
 * - `forward()`: bytes flow both ways (the initial mode); paused connections resume where they
 *   stopped, nothing is lost.
 * - `cut()`: every connection is reset and new ones are closed as soon as they arrive, until
 *   `forward()` (a crashed or unreachable peer: the dialer sees errors at once).
 * - `pause(direction)`: connections stay open but bytes stop moving in `direction` (a partition
 *   that TCP cannot see: the dialer notices only by timeouts). New connections are accepted and
 *   held paused as well.
 *
 * @example
 * const proxy = new LinkProxy({ target: { host: '127.0.0.1', port: bPeerPort } });
 * await proxy.start();
 * a.addPeer(bId, [proxy.url]);   // A → B now goes through the proxy
 * proxy.pause();                  // partition A → B
 * proxy.forward();                // heal
 * await proxy.close();
 */
import * as net from 'node:net';

export type LinkDirection = 'both' | 'toTarget' | 'fromTarget';
export type LinkMode = 'forward' | 'cut' | 'pause';

export interface LinkProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Port to listen on (127.0.0.1); 0 (default) picks a free one. */
  readonly listenPort?: number;
}

/** One direction of one proxied connection. */
interface Pipe {
  readonly src: net.Socket;
  readonly dst: net.Socket;
  readonly dir: 'toTarget' | 'fromTarget';
  awaitingDrain: boolean;
}

export class LinkProxy {
  private server: net.Server | undefined;
  private boundPort = 0;
  private modeValue: LinkMode = 'forward';
  private paused = { toTarget: false, fromTarget: false };
  private readonly sockets = new Set<net.Socket>();
  private readonly pipes = new Set<Pipe>();
  /** Bytes forwarded per direction since start (for tests). */
  readonly bytes = { toTarget: 0, fromTarget: 0 };
  /** Connections accepted since start. */
  accepted = 0;

  constructor(private readonly opts: LinkProxyOptions) {}

  get mode(): LinkMode {
    return this.modeValue;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `http://127.0.0.1:<port>`: the peer URL to give the dialing member. */
  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  /** Connections currently open through the proxy. */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Listens on 127.0.0.1; resolves with the bound port. */
  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listenPort ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    return this.boundPort;
  }

  forward(): void {
    this.modeValue = 'forward';
    this.paused = { toTarget: false, fromTarget: false };
    for (const p of this.pipes) if (!p.awaitingDrain) p.src.resume();
  }

  cut(): void {
    this.modeValue = 'cut';
    for (const s of this.sockets) s.resetAndDestroy();
  }

  pause(direction: LinkDirection = 'both'): void {
    this.modeValue = 'pause';
    this.paused = {
      toTarget: direction !== 'fromTarget' || this.paused.toTarget,
      fromTarget: direction !== 'toTarget' || this.paused.fromTarget,
    };
    for (const p of this.pipes) if (this.paused[p.dir]) p.src.pause();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.modeValue === 'cut') {
      client.resetAndDestroy();
      return;
    }
    client.pause();
    const upstream = net.connect(this.opts.target.port, this.opts.target.host);
    upstream.pause();
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    this.pipe(client, upstream, 'toTarget');
    this.pipe(upstream, client, 'fromTarget');
  }

  private pipe(src: net.Socket, dst: net.Socket, dir: 'toTarget' | 'fromTarget'): void {
    const p: Pipe = { src, dst, dir, awaitingDrain: false };
    this.pipes.add(p);
    src.on('close', () => this.pipes.delete(p));
    src.on('data', (chunk: Buffer) => {
      this.bytes[dir] += chunk.length;
      if (!dst.write(chunk)) {
        p.awaitingDrain = true;
        src.pause();
        dst.once('drain', () => {
          p.awaitingDrain = false;
          if (!this.paused[dir]) src.resume();
        });
      }
    });
    src.on('end', () => dst.end());
    if (!this.paused[dir]) src.resume();
  }
}
