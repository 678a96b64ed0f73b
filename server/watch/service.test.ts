// A watch stream opened with `hasleader: true` (clientv3.WithRequireLeader) fails with etcd's
// ErrNoLeader when the member has no leader, and is ended when the leader goes away; a stream
// without it keeps watching.
import { openMvccStore } from '../mvcc/store';
import type { MemberStream } from '../api/bridge';
import { createWatchService } from './service';
import pino from 'pino';

function fakeStream(metadata: Record<string, string>) {
  let ended: [number, string | undefined] | undefined;
  const stream: MemberStream = {
    metadata,
    writable: true,
    get ended() {
      return ended !== undefined;
    },
    onMessage: () => undefined,
    onHalfClose: () => undefined,
    onCancel: () => undefined,
    onWritableChange: () => undefined,
    send: () => undefined,
    end: (status = 0, message?: string) => {
      ended ??= [status, message];
    },
  };
  return { stream, ended: () => ended };
}

describe('watch and hasleader', () => {
  it('refuses a hasleader stream without a leader, and ends one when the leader is lost', async () => {
    const store = await openMvccStore({});
    const member = { clusterId: 1n, memberId: 2n, term: 1, leader: 0n };
    const service = createWatchService({ store, member, maxRequestBytes: 1 << 20, progressIntervalMs: 20, log: pino({ level: 'silent' }) });
    try {
      const refused = fakeStream({ hasleader: 'true' });
      service.method.handler(refused.stream);
      expect(refused.ended()).toEqual([14, 'etcdserver: no leader']);

      member.leader = 2n;
      const strict = fakeStream({ hasleader: 'true' });
      const relaxed = fakeStream({});
      service.method.handler(strict.stream);
      service.method.handler(relaxed.stream);
      await new Promise((r) => setTimeout(r, 60));
      expect(strict.ended()).toBeUndefined();

      member.leader = 0n;
      await new Promise((r) => setTimeout(r, 60));
      expect(strict.ended()).toEqual([14, 'etcdserver: no leader']);
      expect(relaxed.ended()).toBeUndefined();
    } finally {
      service.close();
      await store.close();
    }
  });
});
