// Published member attributes (name, client URLs) are applied in log order, overlaid on the
// bootstrap membership, and kept in the store so that a restart lists them again.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromBigInt } from '../../proto';
import { openMvccStore } from '../mvcc/store';
import { Membership } from './membership';
import type { MemberInfo } from './member';

const bootstrap = (): MemberInfo[] => [
  { id: 0xa1n, name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: ['http://127.0.0.1:2379'], isLearner: false },
  { id: 0xffffffffffffff02n, name: 'm2', peerUrls: ['http://127.0.0.1:2382'], clientUrls: [], isLearner: false },
];

describe('membership attributes', () => {
  it('overlays published attributes and restores them from the store after a restart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-membership-'));
    try {
      const store = await openMvccStore({ dir });
      const members = bootstrap();
      const membership = new Membership(store, members);
      membership.apply({ memberId: fromBigInt(0xffffffffffffff02n, true), memberAttributes: { name: 'm2', clientUrls: ['http://127.0.0.1:2381'] } });
      expect(members[1]!.clientUrls).toEqual(['http://127.0.0.1:2381']);
      // An unknown member's attributes change nobody's entry.
      membership.apply({ memberId: fromBigInt(0x99n, true), memberAttributes: { name: 'x', clientUrls: ['http://x:1'] } });
      expect(members.map((m) => m.name)).toEqual(['m1', 'm2']);
      store.setConsistentIndex(5);
      await store.flush();
      await store.close();

      const reopened = await openMvccStore({ dir });
      const again = bootstrap();
      new Membership(reopened, again);
      expect(again[1]!.clientUrls).toEqual(['http://127.0.0.1:2381']);
      expect(again[0]!.clientUrls).toEqual(['http://127.0.0.1:2379']);
      await reopened.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
