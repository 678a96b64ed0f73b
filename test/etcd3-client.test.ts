/**
 * The `etcd3` npm client (microsoft/etcd3) against Cairn: put, get, getAll with a prefix, delete and
 * a txn with if/then/else, each checked against the values and revisions etcd's API defines.
 * (CAIRN_TEST_SUBJECT=etcd runs the same file against real etcd, which checks the expectations.)
 */
import { Etcd3, EtcdLeaseInvalidError, GRPCInvalidArgumentError, GRPCOutOfRangeError } from 'etcd3';
import { connect } from './harness/client';
import { Member, startMember } from './harness/member';

let member: Member;
let client: Etcd3;

beforeAll(async () => {
  member = await startMember({ kind: 'cairn' });
  client = connect(member);
}, 60_000);

afterAll(async () => {
  client?.close();
  await member?.cleanup();
});

test('put then get returns the value as a string, a buffer and a number', async () => {
  await client.put('c3/str').value('hello');
  await client.put('c3/num').value(42);
  await client.put('c3/buf').value(Buffer.from([0, 1, 2, 255]));
  expect(await client.get('c3/str').string()).toBe('hello');
  expect(await client.get('c3/num').number()).toBe(42);
  expect(await client.get('c3/buf').buffer()).toEqual(Buffer.from([0, 1, 2, 255]));
  expect(await client.get('c3/missing').string()).toBeNull();
  expect(await client.get('c3/str').exists()).toBe(true);
});

test('put returns a header whose revision grows by one per put; get exec shows versions and revisions', async () => {
  const first = await client.put('c3/rev').value('1').exec();
  const second = await client.put('c3/rev').value('2').exec();
  expect(Number(second.header.revision)).toBe(Number(first.header.revision) + 1);
  const res = await client.get('c3/rev').exec();
  expect(res.kvs).toHaveLength(1);
  expect(res.kvs[0]!.value.toString()).toBe('2');
  expect(res.kvs[0]!.version).toBe('2');
  expect(res.kvs[0]!.create_revision).toBe(first.header.revision);
  expect(res.kvs[0]!.mod_revision).toBe(second.header.revision);
  expect(res.count).toBe('1');
  const prev = await client.put('c3/rev').value('3').getPrevious();
  expect(prev?.value.toString()).toBe('2');
});

test('getAll with a prefix: strings, keys, count, limit and sort', async () => {
  for (const [k, v] of [['b', '2'], ['a', '3'], ['c', '1']] as const) await client.put(`c3/all/${k}`).value(v);
  await client.put('c3/allx').value('outside the prefix');
  expect(await client.getAll().prefix('c3/all/').strings()).toEqual({ 'c3/all/a': '3', 'c3/all/b': '2', 'c3/all/c': '1' });
  expect(await client.getAll().prefix('c3/all/').keys()).toEqual(['c3/all/a', 'c3/all/b', 'c3/all/c']);
  expect(await client.getAll().prefix('c3/all/').count()).toBe(3);
  expect(await client.getAll().prefix('c3/all/').limit(2).keys()).toEqual(['c3/all/a', 'c3/all/b']);
  expect(await client.getAll().prefix('c3/all/').sort('Value', 'Ascend').keys()).toEqual(['c3/all/c', 'c3/all/b', 'c3/all/a']);
  expect(await client.getAll().prefix('c3/all/').sort('Key', 'Descend').keys()).toEqual(['c3/all/c', 'c3/all/b', 'c3/all/a']);
  expect(await client.getAll().prefix('c3/none/').keys()).toEqual([]);
});

test('delete a key, a prefix and a range, with the deleted count and previous values', async () => {
  for (const k of ['a', 'b', 'c', 'd']) await client.put(`c3/del/${k}`).value(k.toUpperCase());
  const one = await client.delete().key('c3/del/a').exec();
  expect(one.deleted).toBe('1');
  expect(await client.get('c3/del/a').string()).toBeNull();
  const missing = await client.delete().key('c3/del/a').exec();
  expect(missing.deleted).toBe('0');
  const prev = await client.delete().key('c3/del/b').getPrevious();
  expect(prev.map((kv) => kv.value.toString())).toEqual(['B']);
  const all = await client.delete().prefix('c3/del/').exec();
  expect(all.deleted).toBe('2');
  expect(await client.getAll().prefix('c3/del/').keys()).toEqual([]);
});

test('txn if/then/else: the then branch when the compare holds, the else branch when not', async () => {
  await client.put('c3/txn/k').value('v1');
  const hit = await client
    .if('c3/txn/k', 'Value', '==', 'v1')
    .then(client.put('c3/txn/k').value('v2'), client.get('c3/txn/k'))
    .else(client.put('c3/txn/else').value('1'))
    .commit();
  expect(hit.succeeded).toBe(true);
  expect(hit.responses).toHaveLength(2);
  expect(hit.responses[1]!.response_range!.kvs[0]!.value.toString()).toBe('v2');
  const miss = await client
    .if('c3/txn/k', 'Value', '==', 'v1')
    .and('c3/txn/k', 'Version', '>', 0)
    .then(client.put('c3/txn/k').value('v3'))
    .else(client.put('c3/txn/else').value('2'), client.get('c3/txn/k'))
    .commit();
  expect(miss.succeeded).toBe(false);
  expect(miss.responses[1]!.response_range!.kvs[0]!.value.toString()).toBe('v2');
  expect(await client.get('c3/txn/k').string()).toBe('v2');
  expect(await client.get('c3/txn/else').string()).toBe('2');
  const created = await client.if('c3/txn/new', 'Create', '==', 0).then(client.put('c3/txn/new').value('x')).commit();
  expect(created.succeeded).toBe(true);
  const again = await client.if('c3/txn/new', 'Create', '==', 0).then(client.put('c3/txn/new').value('y')).commit();
  expect(again.succeeded).toBe(false);
  expect(await client.get('c3/txn/new').string()).toBe('x');
});

test('errors come back with etcd\'s message and the client maps them to its error classes', async () => {
  await expect(client.put('').value('x')).rejects.toThrow('etcdserver: key is not provided');
  await expect(client.get('c3/str').revision(1_000_000).string()).rejects.toThrow('etcdserver: mvcc: required revision is a future revision');
  await expect(client.put('c3/lease').value('x').lease('123456')).rejects.toThrow('etcdserver: requested lease not found');
  await expect(client.put('c3/lease').value('x').lease('123456')).rejects.toBeInstanceOf(EtcdLeaseInvalidError);
  // The client picks its error class by gRPC status code, and by message text for etcd's named errors.
  await expect(client.put('').value('x')).rejects.toBeInstanceOf(GRPCInvalidArgumentError);
  await expect(client.get('c3/str').revision(1_000_000).string()).rejects.toBeInstanceOf(GRPCOutOfRangeError);
});
