/**
 * Paging a 100,000-key range with iterate() keeps client memory bounded: the heap retained while
 * iterating stays far below the size of the range (TARGETS.kv: etcd and Cairn).
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { op } from './index';
import { TARGETS, freshPrefix, useMember } from './testing/targets';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const keysTotal = 100_000;
const valueBytes = 200;
const opsPerTxn = 128; // etcd's and Cairn's default --max-txn-ops

describe.each(TARGETS.kv)('paging against %s', (kind) => {
  const fx = useMember(kind);

  test('iterating 100,000 keys holds about one page in memory', async () => {
    const c = fx.client({ callTimeoutMs: 30_000 });
    const p = freshPrefix('paging');
    const value = 'v'.repeat(valueBytes);
    const batches = Math.ceil(keysTotal / opsPerTxn);
    let next = 0;
    const load = async (): Promise<void> => {
      for (let b = next++; b < batches; b = next++) {
        const ops = [];
        for (let i = b * opsPerTxn; i < Math.min(keysTotal, (b + 1) * opsPerTxn); i++) ops.push(op.put(`${p}${String(i).padStart(6, '0')}`, value));
        await c.txn().then(...ops).commit();
      }
    };
    await Promise.all(Array.from({ length: 16 }, load));

    const used = async (): Promise<number> => {
      // Two collections with a turn between them: Buffers' backing stores are freed by finalizers.
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external; // Buffers' bytes live outside the JS heap
    };
    const baseline = await used();
    let retainedMax = -Infinity; // signed: garbage from before the baseline can make it negative
    let seen = 0;
    let bytes = 0;
    let previous = '';
    for await (const kv of c.getAll().prefix(p).iterate({ pageSize: 1000 })) {
      const key = kv.key.toString();
      expect(key > previous).toBe(true);
      previous = key;
      bytes += kv.key.length + kv.value.length;
      if (++seen % 10_000 === 0) {
        retainedMax = Math.max(retainedMax, (await used()) - baseline);
      }
    }
    expect(seen).toBe(keysTotal);

    // Control: loading the whole range at once retains its size, so the measure can see it.
    const before = await used();
    const all = await c.getAll().prefix(p).kvs();
    const loadedAll = (await used()) - before;
    expect(all).toHaveLength(keysTotal);
    all.length = 0;

    expect(bytes).toBeGreaterThan(20_000_000);
    expect(loadedAll).toBeGreaterThan(20_000_000);
    expect(retainedMax).toBeLessThan(Math.min(8_000_000, loadedAll / 10));
    console.log(
      `${kind}: iterated ${seen} keys (${(bytes / 1e6).toFixed(1)} MB); retained memory growth at most ${(retainedMax / 1e6).toFixed(2)} MB ` +
        `(loading the range at once: ${(loadedAll / 1e6).toFixed(1)} MB)`,
    );
  }, 90_000);
});
