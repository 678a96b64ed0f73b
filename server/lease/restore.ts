/**
 * Rebuilds the lessor from the MVCC backend at startup (etcd's lessor.initAndRecover): the lease
 * records, then the keys attached to each, from the lease field of every live key. The result is
 * the state as of the store's consistent index; entries after it are re-applied from the WAL.
 */
import type { MvccStore } from '../mvcc/types';
import type { Lessor } from './lessor';
import { decodeLeaseRecord } from './record';

const ALL_KEYS_FROM = Buffer.from([0]);

export async function restoreLeases(lessor: Lessor, store: MvccStore): Promise<{ leases: number; keys: number }> {
  const records = await store.leases();
  for (const { id, record } of records) lessor.restore(id, decodeLeaseRecord(record));
  let keys = 0;
  if (records.length > 0) {
    const { kvs } = store.read().range(ALL_KEYS_FROM, ALL_KEYS_FROM);
    for (const kv of kvs) {
      if (kv.lease !== 0n && lessor.exists(kv.lease)) {
        lessor.attach(kv.lease, kv.key);
        keys++;
      }
    }
  }
  return { leases: records.length, keys };
}
