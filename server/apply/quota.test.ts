/**
 * The space quota and alarms (server/apply/quota.ts): etcd 3.4's cost estimates, the alarm store's
 * activate/deactivate/get and its persisted record, and the apply-time guard (capped while NOSPACE
 * is raised; applied but answered NoSpace when the quota is used up).
 */
import { etcdserverpb as pb, toBigInt } from '../../proto';
import { EtcdError } from '../errors';
import { openMvccStore } from '../mvcc/store';
import { AlarmStore, alarmText, type AlarmPersistence, BackendQuota, BackendSizeGauge, costPut, costTxn, KV_OVERHEAD, QuotaApplier } from './quota';

const { ACTIVATE, DEACTIVATE, GET } = pb.AlarmRequest.AlarmAction;
const NOSPACE = pb.AlarmType.NOSPACE;

function memoryPersistence(): AlarmPersistence {
  let record: Uint8Array | undefined;
  return { putMetaRecord: (_name, r) => (record = r), metaRecord: () => record };
}

describe('costs', () => {
  test('a put costs its key, value and etcd\'s overhead; a txn its larger branch of top-level puts', () => {
    expect(costPut({ key: Buffer.from('ab'), value: Buffer.from('xyz') })).toBe(KV_OVERHEAD + 5);
    const put = (n: number): pb.IRequestOp => ({ requestPut: { key: Buffer.from('k'), value: Buffer.alloc(n) } });
    expect(costTxn({ success: [put(10), put(20)], failure: [put(5)] })).toBe(2 * (KV_OVERHEAD + 1) + 30);
    expect(costTxn({ success: [{ requestDeleteRange: { key: Buffer.from('k') } }] })).toBe(0);
  });

  test('available means size + cost < quota', () => {
    let size = 0;
    const q = new BackendQuota(1000, () => size);
    const req = { put: { key: Buffer.from('k'), value: Buffer.alloc(100) } };
    expect(q.available(req)).toBe(true);
    size = 1000 - (KV_OVERHEAD + 101);
    expect(q.available(req)).toBe(false);
    expect(q.available({ txn: {} })).toBe(true);
  });
});

describe('alarm store', () => {
  test('one alarm per member and type; GET filters by type; the record survives a reload', () => {
    const p = memoryPersistence();
    const alarms = new AlarmStore(p);
    expect(alarms.activate(7n, NOSPACE)).toEqual({ memberId: 7n, alarm: NOSPACE });
    expect(alarms.activate(7n, NOSPACE)).toBeUndefined();
    expect(alarms.activate(8n, pb.AlarmType.CORRUPT)).toBeDefined();
    expect(alarms.get(NOSPACE)).toEqual([{ memberId: 7n, alarm: NOSPACE }]);
    expect(alarms.get()).toHaveLength(2);
    const reloaded = new AlarmStore(p);
    expect(reloaded.get()).toEqual(alarms.get());
    expect(reloaded.deactivate(7n, NOSPACE)).toBeDefined();
    expect(reloaded.deactivate(7n, NOSPACE)).toBeUndefined();
    expect(new AlarmStore(p).get()).toEqual([{ memberId: 8n, alarm: pb.AlarmType.CORRUPT }]);
  });

  test('the record is written with the MVCC store\'s flush and read back on reopen', async () => {
    const fs = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cairn-quota-'));
    try {
      const store = await openMvccStore({ dir });
      new AlarmStore(store).activate(42n, NOSPACE);
      await store.close();
      const reopened = await openMvccStore({ dir });
      expect(new AlarmStore(reopened).get()).toEqual([{ memberId: 42n, alarm: NOSPACE }]);
      await reopened.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('alarm text is etcd\'s AlarmMember.String()', () => {
    expect(alarmText({ memberId: 10276657743932975437n, alarm: NOSPACE })).toBe('memberID:10276657743932975437 alarm:NOSPACE ');
  });
});

describe('quota applier', () => {
  const put = { put: { key: Buffer.from('k'), value: Buffer.from('v') } };

  test('alarm requests: ACTIVATE answers the new alarm only once, DEACTIVATE the cleared one, GET all', () => {
    const a = new QuotaApplier(new BackendQuota(1 << 20, () => 0), new AlarmStore(memoryPersistence()));
    const activate = { action: ACTIVATE, memberID: 5, alarm: NOSPACE };
    expect(a.alarm(activate).alarms).toHaveLength(1);
    expect(a.alarm(activate).alarms).toHaveLength(0);
    expect(a.alarm({ action: ACTIVATE, memberID: 5, alarm: pb.AlarmType.NONE }).alarms).toHaveLength(0);
    const listed = a.alarm({ action: GET }).alarms!;
    expect(listed.map((m) => [toBigInt(m.memberID), m.alarm])).toEqual([[5n, NOSPACE]]);
    expect(a.alarm({ action: DEACTIVATE, memberID: 5, alarm: NOSPACE }).alarms).toHaveLength(1);
    expect(a.alarm({ action: DEACTIVATE, memberID: 5, alarm: NOSPACE }).alarms).toHaveLength(0);
    expect(a.alarm({ action: GET }).alarms).toHaveLength(0);
  });

  test('while NOSPACE is raised, puts, txns with puts and lease grants fail without applying', () => {
    const a = new QuotaApplier(new BackendQuota(1 << 20, () => 0), new AlarmStore(memoryPersistence()));
    a.alarm({ action: ACTIVATE, memberID: 1, alarm: NOSPACE });
    const apply = jest.fn(() => 'applied');
    expect(() => a.guard(put, apply)).toThrow(new EtcdError('NoSpace'));
    expect(() => a.guard({ txn: { success: [{ requestPut: put.put }] } }, apply)).toThrow(EtcdError);
    expect(() => a.guard({ leaseGrant: { TTL: 10 } }, apply)).toThrow(EtcdError);
    expect(apply).not.toHaveBeenCalled();
    // A txn that only deletes or reads still runs.
    expect(a.guard({ txn: { success: [{ requestDeleteRange: { key: Buffer.from('k') } }] } }, apply)).toBe('applied');
  });

  test('over the quota without the alarm: applied, answered NoSpace (etcd\'s quota applier)', () => {
    let size = 0;
    const a = new QuotaApplier(new BackendQuota(1000, () => size), new AlarmStore(memoryPersistence()));
    const apply = jest.fn(() => 'applied');
    expect(a.guard(put, apply)).toBe('applied');
    size = 1000;
    expect(() => a.guard(put, apply)).toThrow(new EtcdError('NoSpace'));
    expect(apply).toHaveBeenCalledTimes(2);
  });
});

describe('size gauge', () => {
  test('reads at start and on refresh; the latest read wins', async () => {
    let size = 10;
    const g = new BackendSizeGauge(async () => ({ sizeBytes: size }));
    await g.start(60_000);
    expect(g.sizeBytes).toBe(10);
    size = 20;
    await g.refresh();
    expect(g.sizeBytes).toBe(20);
    g.stop();
  });
});
