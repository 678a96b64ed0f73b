// The member's host loop: a proposal is answered only after it is fsynced and applied; after a
// restart every entry the store has not applied is applied exactly once, and none is applied twice.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { openMvccStore } from '../mvcc/store';
import type { MvccStore } from '../mvcc/types';
import { Wal } from '../wal';
import { Member, type MemberInfo } from './member';
import { seededRandom } from '../raft';

const ID = 0x8e9e05c52164694dn;
const MEMBERS: MemberInfo[] = [{ id: ID, name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: false }];
const quiet = pino({ level: 'silent' });

/** An applier that writes `data` as the value of key "k<index>" and records what it applied. */
function recorder(store: MvccStore) {
  const applied: number[] = [];
  const applyEntry = (data: Uint8Array, index: number): unknown => {
    applied.push(index);
    let at = 1; // skip tag 0x08 and the request ID's varint
    while (data[at]! & 0x80) at++;
    const txn = store.write();
    txn.put(Buffer.from(data.subarray(at + 1)), Buffer.from(String(index)), 0n);
    txn.end();
    return { index };
  };
  return { applied, applyEntry };
}

async function openMember(dir: string, store: MvccStore, applyEntry: (data: Uint8Array, index: number) => unknown): Promise<Member> {
  const walDir = path.join(dir, 'wal');
  const existingWal = Wal.exists(walDir) ? await Wal.open(walDir, {}) : undefined;
  const member = await Member.open({
    walDir,
    existingWal,
    memberId: ID,
    clusterId: 1n,
    members: MEMBERS,
    confState: { voters: MEMBERS.map((m) => m.id), learners: [] },
    heartbeatIntervalMs: 10,
    electionTimeoutMs: 100,
    preVote: false,
    snapshotCount: 100000,
    store,
    applyEntry,
    log: quiet,
    random: seededRandom(1),
    onFatal: (err) => {
      throw err;
    },
  });
  expect(await member.waitForLeader(5000)).toBe(true);
  return member;
}

function proposal(member: Member, key: string): Promise<unknown> {
  const id = member.newRequestId();
  // An internal request's field 1 is its ID; the applier here reads the rest as a key.
  const idBytes: number[] = [];
  let v = id;
  while (v >= 0x80) {
    idBytes.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  idBytes.push(v);
  const data = Buffer.concat([Buffer.from([0x08, ...idBytes]), Buffer.from(key)]);
  return member.propose(id, data);
}

describe('member host loop', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-member-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('answers each proposal with the result of applying it, in log order', async () => {
    const store = await openMvccStore({});
    const rec = recorder(store);
    const member = await openMember(dir, store, rec.applyEntry);
    const results = (await Promise.all(Array.from({ length: 50 }, (_, i) => proposal(member, `key${i}`)))) as { index: number }[];
    const indexes = results.map((r) => r.index);
    expect(new Set(indexes).size).toBe(50);
    expect(rec.applied).toEqual([...indexes].sort((a, b) => a - b));
    expect(store.currentRevision).toBe(51);
    await member.close();
    await store.close();
  });

  it('after a crash that lost the unflushed store, re-applies every entry from the WAL exactly once', async () => {
    // The store lives in memory: a "crash" loses all of it, as an unsynced backend could.
    const first = await openMvccStore({});
    const rec1 = recorder(first);
    const member1 = await openMember(dir, first, rec1.applyEntry);
    for (let i = 0; i < 20; i++) await proposal(member1, `k${i}`);
    await member1.close();

    const second = await openMvccStore({});
    const rec2 = recorder(second);
    const member2 = await openMember(dir, second, rec2.applyEntry);
    await member2.linearizableRead();
    // Every data entry applied before is applied again, once, in the same order.
    expect(rec2.applied).toEqual(rec1.applied);
    expect(second.read().range(Buffer.from('k'), Buffer.from('l')).count).toBe(20);
    await member2.close();
  });

  it('never applies an entry the store already holds (its consistent index)', async () => {
    const storeDir = path.join(dir, 'db');
    const store1 = await openMvccStore({ dir: storeDir });
    const rec1 = recorder(store1);
    const member1 = await openMember(dir, store1, rec1.applyEntry);
    for (let i = 0; i < 10; i++) await proposal(member1, `k${i}`);
    await member1.close();
    await store1.close();

    const store2 = await openMvccStore({ dir: storeDir });
    expect(store2.consistentIndex).toBeGreaterThanOrEqual(Math.max(...rec1.applied));
    const rec2 = recorder(store2);
    const member2 = await openMember(dir, store2, rec2.applyEntry);
    await proposal(member2, 'after');
    expect(rec2.applied).toHaveLength(1);
    expect(rec2.applied[0]).toBeGreaterThan(Math.max(...rec1.applied));
    expect(store2.currentRevision).toBe(12);
    await member2.close();
    await store2.close();
  });

  it('serves a linearizable read only after everything committed before it was asked is applied', async () => {
    const store = await openMvccStore({});
    const rec = recorder(store);
    const member = await openMember(dir, store, rec.applyEntry);
    for (let round = 0; round < 20; round++) {
      const writes = Array.from({ length: 10 }, (_, i) => proposal(member, `r${round}-${i}`));
      // Let part of the writes commit, then ask; the answer must cover what was committed by then.
      await writes[round % 10];
      const commitWhenAsked = member.raftStatus.commit;
      await member.linearizableRead();
      expect(member.applied).toBeGreaterThanOrEqual(commitWhenAsked);
      await Promise.all(writes);
    }
    expect(store.read().range(Buffer.from('r'), Buffer.from('s')).count).toBe(200);
    await member.close();
    await store.close();
  });
});
