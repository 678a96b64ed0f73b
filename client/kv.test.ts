/**
 * KV through the SDK (get/getAll/put/delete, range options, txn builder, namespace, paging) against
 * every server in TARGETS.kv: real etcd 3.4 and Cairn.
 */
import { CompactedError, FutureRevisionError, InvalidArgumentError, KeyValue, RequestTooLargeError, op } from './index';
import { TARGETS, freshPrefix, useMember } from './testing/targets';

describe.each(TARGETS.kv)('KV against %s', (kind) => {
  const fx = useMember(kind);

  test('put then get returns the value, revisions and version as bigint', async () => {
    const c = fx.client();
    const p = freshPrefix('put');
    const put = await c.put(`${p}a`, 'hello');
    expect(typeof put.revision).toBe('bigint');
    expect(await c.get(`${p}a`)).toBe('hello');
    const kv = (await c.get(`${p}a`).kv()) as KeyValue;
    expect(kv.createRevision).toBe(put.revision);
    expect(kv.modRevision).toBe(put.revision);
    expect(kv.version).toBe(1n);
    expect(kv.lease).toBe(0n);
    expect(await c.get(`${p}missing`)).toBeNull();
    const again = await c.put(`${p}a`, 'hi', { prevKv: true });
    expect(again.prevKv?.value.toString()).toBe('hello');
    expect((await c.get(`${p}a`).kv())!.version).toBe(2n);
    expect(await c.get(`${p}a`).revision(put.revision).string()).toBe('hello');
    await c.put(`${p}j`, JSON.stringify({ n: 1 }));
    expect(await c.get(`${p}j`).json()).toEqual({ n: 1 });
  });

  test('getAll with prefix, range, fromKey, limit, sort, keysOnly, countOnly, min/max revisions', async () => {
    const c = fx.client();
    const p = freshPrefix('range');
    const revs: bigint[] = [];
    for (const k of ['a', 'b', 'c', 'd']) revs.push((await c.put(`${p}${k}`, `v${k}`)).revision);
    expect(await c.getAll().prefix(p)).toEqual({ [`${p}a`]: 'va', [`${p}b`]: 'vb', [`${p}c`]: 'vc', [`${p}d`]: 'vd' });
    expect(await c.getAll().range(`${p}b`, `${p}d`).keys()).toEqual([`${p}b`, `${p}c`]);
    expect((await c.getAll().fromKey(`${p}c`).keys()).slice(0, 2)).toEqual([`${p}c`, `${p}d`]);
    const limited = await c.getAll().prefix(p).limit(2).exec();
    expect(limited.kvs.map((kv) => kv.key.toString())).toEqual([`${p}a`, `${p}b`]);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(4);
    expect(await c.getAll().prefix(p).sort('key', 'descend').keys()).toEqual([`${p}d`, `${p}c`, `${p}b`, `${p}a`]);
    expect(await c.getAll().prefix(p).sort('modRevision', 'descend').limit(1).keys()).toEqual([`${p}d`]);
    const keysOnly = await c.getAll().prefix(p).keysOnly().kvs();
    expect(keysOnly.every((kv) => kv.value.length === 0)).toBe(true);
    expect(await c.getAll().prefix(p).count()).toBe(4);
    expect(await c.getAll().prefix(p).modRevisions(revs[1], revs[2]).keys()).toEqual([`${p}b`, `${p}c`]);
    expect(await c.getAll().prefix(p).createRevisions(undefined, revs[0]).keys()).toEqual([`${p}a`]);
    expect(await c.getAll().prefix(p).serializable().keys()).toHaveLength(4);
  });

  test('delete and deleteRange report what they removed', async () => {
    const c = fx.client();
    const p = freshPrefix('del');
    await c.put(`${p}a`, '1');
    await c.put(`${p}b`, '2');
    await c.put(`${p}c`, '3');
    expect((await c.delete(`${p}a`)).deleted).toBe(1);
    expect((await c.delete(`${p}a`)).deleted).toBe(0);
    const r = await c.deleteRange({ prefix: p }, { prevKv: true });
    expect(r.deleted).toBe(2);
    expect(r.prevKvs.map((kv) => kv.value.toString()).sort()).toEqual(['2', '3']);
    expect(await c.getAll().prefix(p).count()).toBe(0);
  });

  test('txn: compares on value, version, createRevision, modRevision and lease pick the branch', async () => {
    const c = fx.client();
    const p = freshPrefix('txn');
    const { revision } = await c.put(`${p}k`, 'a');
    const yes = await c
      .if(`${p}k`, 'value', '==', 'a')
      .and(`${p}k`, 'version', '==', 1)
      .and(`${p}k`, 'createRevision', '==', revision)
      .and(`${p}k`, 'modRevision', '<', revision + 1n)
      .and(`${p}k`, 'lease', '==', 0)
      .then(op.put(`${p}k`, 'b'), op.get(`${p}k`))
      .else(op.get(`${p}k`))
      .commit();
    expect(yes.succeeded).toBe(true);
    expect(yes.responses.map((r) => r.type)).toEqual(['put', 'range']);
    const rr = yes.responses[1]!;
    expect(rr.type === 'range' && rr.kvs[0]!.value.toString()).toBe('b');
    const no = await c.if(`${p}k`, 'value', '!=', 'b').then(op.delete(`${p}k`)).else(op.get(`${p}k`), op.range({ prefix: p })).commit();
    expect(no.succeeded).toBe(false);
    expect(no.responses).toHaveLength(2);
    // create-if-absent
    const created = await c.if(`${p}new`, 'version', '==', 0).then(op.put(`${p}new`, 'x')).commit();
    expect(created.succeeded).toBe(true);
    const again = await c.if(`${p}new`, 'version', '==', 0).then(op.put(`${p}new`, 'y')).commit();
    expect(again.succeeded).toBe(false);
    expect(await c.get(`${p}new`)).toBe('x');
  });

  test('a namespace view prefixes keys on the way out and strips them on the way back', async () => {
    const c = fx.client();
    const p = freshPrefix('ns');
    const ns = c.namespace(p);
    await ns.put('x', '1');
    await ns.put('y', '2');
    await c.put(`${p.slice(0, -1)}0`, 'outside'); // sorts right after the namespace: must stay out
    expect(await c.get(`${p}x`)).toBe('1');
    expect(await ns.getAll().keys()).toEqual(['x', 'y']);
    expect(await ns.getAll().fromKey('y').keys()).toEqual(['y']);
    const t = await ns.if('x', 'value', '==', '1').then(op.get('y')).commit();
    expect(t.responses[0]!.type === 'range' && t.responses[0].kvs[0]!.key.toString()).toBe('y');
    expect((await ns.deleteRange({ all: true })).deleted).toBe(2);
    expect(await c.get(`${p.slice(0, -1)}0`)).toBe('outside');
  });

  test('iterate pages a range at one pinned revision', async () => {
    const c = fx.client();
    const p = freshPrefix('iter');
    await c.txn().then(...Array.from({ length: 25 }, (_, i) => op.put(`${p}${String(i).padStart(3, '0')}`, `${i}`))).commit();
    const seen: string[] = [];
    for await (const kv of c.getAll().prefix(p).iterate({ pageSize: 4 })) {
      if (seen.length === 3) await c.put(`${p}zzz-late`, 'written during the iteration'); // not at the pinned revision
      seen.push(kv.key.toString().slice(p.length));
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => String(i).padStart(3, '0')));
  });

  test('compacted and future revisions give typed errors', async () => {
    const c = fx.client();
    const p = freshPrefix('compact');
    const first = await c.put(`${p}k`, '1');
    const second = await c.put(`${p}k`, '2');
    await c.compact(second.revision);
    await expect(c.get(`${p}k`).revision(first.revision)).rejects.toBeInstanceOf(CompactedError);
    await expect(c.get(`${p}k`).revision(second.revision + 1000n)).rejects.toBeInstanceOf(FutureRevisionError);
  });

  test('a request above the server limits fails with RequestTooLargeError, marked not applied', async () => {
    const c = fx.client();
    const p = freshPrefix('large');
    // Above --max-request-bytes (1.5 MiB) but within the gRPC limit: etcd's own check.
    const over = await c.put(`${p}a`, Buffer.alloc(1.8 * 1024 * 1024)).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(RequestTooLargeError);
    // Above the gRPC message limit (+512 KiB): refused by the transport.
    const way = await c.put(`${p}b`, Buffer.alloc(3 * 1024 * 1024)).catch((e: unknown) => e);
    expect(way).toBeInstanceOf(RequestTooLargeError);
    expect((way as RequestTooLargeError).notApplied).toBe(true);
    expect(await c.getAll().prefix(p).count()).toBe(0);
  });

  test('bad input throws InvalidArgumentError before any request', async () => {
    const c = fx.client();
    expect(() => c.get('')).toThrow(InvalidArgumentError);
    await expect(c.put('', 'v')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => c.getAll().prefix('a').fromKey('b')).toThrow(InvalidArgumentError);
    expect(() => c.getAll().limit(-1)).toThrow(InvalidArgumentError);
    expect(() => c.getAll().keysOnly().options({ countOnly: true })).toThrow(InvalidArgumentError);
    expect(() => c.getAll().options({ minModRevision: 5n, maxModRevision: 2n })).toThrow(InvalidArgumentError);
    expect(() => c.getAll().limit(3).iterate()).toThrow(InvalidArgumentError);
    expect(() => c.getAll().iterate({ pageSize: 0 })).toThrow(InvalidArgumentError);
    await expect(c.put('k', 'v', { ignoreValue: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.put('k', '', { ignoreLease: true, lease: 5n })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => c.get('k').revision(-1)).toThrow(InvalidArgumentError);
    expect(() => c.if('k', 'version', '==', 'x' as never)).toThrow(InvalidArgumentError);
    await expect(c.deleteRange({ key: 'b', rangeEnd: 'a' })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => c.namespace('')).toThrow(InvalidArgumentError);
  });
});
