/**
 * An `etcd3` npm client connected to one member, with a deadline on every unary call so that a
 * server that does not answer fails a test instead of hanging it. Clients made here are closed by a
 * top-level afterAll registered when this module is imported.
 */
import { Etcd3 } from 'etcd3';
import { Member } from './member';

const clients = new Set<Etcd3>();

if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const client of clients) client.close();
    clients.clear();
  });
}

/** A client for `member.endpoint`; each unary call has a deadline of `callTimeoutMs` (default 5000). */
export function connect(member: Pick<Member, 'endpoint'>, callTimeoutMs = 5_000): Etcd3 {
  const client = new Etcd3({
    hosts: member.endpoint,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
  clients.add(client);
  return client;
}

/** Closes a client made by connect(). */
export function disconnect(client: Etcd3): void {
  client.close();
  clients.delete(client);
}
