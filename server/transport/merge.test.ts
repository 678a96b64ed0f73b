/** merge.ts: which queued messages merge, what the merged message says, and that its size stays exact. */
import { MemoryStorage, RawNode, seededRandom } from '../raft';
import { EntryType, Message, MessageType, StateType } from '../raft/types';
import { encodedMessageBytes } from './codec';
import { Mergeable, mergeInto } from './merge';
import { entries, message } from './testing/helpers';

function slot(m: Message): Mergeable {
  return { m, bytes: encodedMessageBytes(m), ownsEntries: false };
}

function merge(s: Mergeable, next: Message, bytesMax = 1 << 20): number | undefined {
  const before = s.bytes;
  const grew = mergeInto(s, next, encodedMessageBytes(next), bytesMax);
  if (grew !== undefined) {
    expect(s.bytes).toBe(encodedMessageBytes(s.m));
    expect(s.bytes - before).toBe(grew);
  }
  return grew;
}

function app(index: number, count: number, commit: number, term = 2): Message {
  const es = entries(index + 1, count, 20).map((e) => ({ ...e, term }));
  return message({ type: MessageType.MsgApp, from: 1n, to: 2n, term, index, logTerm: term, commit, entries: es });
}

describe('mergeInto', () => {
  test('a chain of contiguous MsgApps (with empty commit updates between) becomes one', () => {
    const first = app(10, 2, 9);
    const s = slot(first);
    expect(merge(s, app(12, 0, 11))).toBeDefined();
    expect(merge(s, app(12, 3, 12))).toBeDefined();
    expect(merge(s, app(15, 1, 14))).toBeDefined();
    expect(merge(s, app(16, 0, 16))).toBeDefined();
    expect([s.m.index, s.m.logTerm, s.m.commit]).toEqual([10, 2, 16]);
    expect(s.m.entries.map((e) => e.index)).toEqual([11, 12, 13, 14, 15, 16]);
    // The messages Raft handed over are not changed.
    expect(first.entries.length).toBe(2);
    expect(first.commit).toBe(9);
  });

  test('MsgApps that do not continue each other, or differ in term or recipient, stay apart', () => {
    expect(merge(slot(app(10, 2, 9)), app(13, 1, 9))).toBeUndefined(); // gap
    expect(merge(slot(app(10, 2, 9)), app(11, 1, 9))).toBeUndefined(); // overlap (a resend)
    expect(merge(slot(app(10, 2, 9)), { ...app(12, 1, 9), logTerm: 1 })).toBeUndefined(); // log term differs
    expect(merge(slot(app(10, 2, 9)), { ...app(12, 1, 9), term: 3 })).toBeUndefined();
    expect(merge(slot(app(10, 2, 9)), { ...app(12, 1, 9), to: 3n })).toBeUndefined();
    expect(merge(slot(app(10, 2, 9)), app(12, 1, 8))).toBeUndefined(); // commit going back
    expect(merge(slot(app(10, 0, 9)), { ...app(10, 0, 9), logTerm: 1 })).toBeUndefined();
  });

  test('the merged size is bounded', () => {
    const s = slot(app(10, 2, 9));
    expect(merge(s, app(12, 1, 9), s.bytes + 10)).toBeUndefined();
    expect(s.m.entries.length).toBe(2);
  });

  test('an accepting MsgAppResp replaces an earlier, lower one; rejections never merge', () => {
    const resp = (index: number, reject = false): Message => message({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 2, index, reject, rejectHint: reject ? 3 : 0 });
    const s = slot(resp(10));
    expect(merge(s, resp(12))).toBeDefined();
    expect(s.m.index).toBe(12);
    expect(merge(s, resp(11))).toBeUndefined();
    expect(merge(s, resp(14, true))).toBeUndefined();
    expect(merge(slot(resp(10, true)), resp(12))).toBeUndefined();
    expect(merge(s, { ...resp(13), term: 3 })).toBeUndefined();
  });

  test('MsgProps of normal entries concatenate; configuration changes and contexts stay alone', () => {
    const prop = (type: EntryType, context?: Uint8Array): Message =>
      message({ type: MessageType.MsgProp, from: 2n, to: 1n, term: 0, entries: [{ term: 0, index: 0, type, data: new Uint8Array([type]) }], ...(context ? { context } : {}) });
    const s = slot(prop(EntryType.Normal, new Uint8Array(0)));
    expect(merge(s, prop(EntryType.Normal, new Uint8Array(0)))).toBeDefined();
    expect(s.m.entries.length).toBe(2);
    expect(merge(s, prop(EntryType.ConfChange))).toBeUndefined();
    expect(merge(slot(prop(EntryType.ConfChange)), prop(EntryType.Normal))).toBeUndefined();
    expect(merge(s, prop(EntryType.Normal, new Uint8Array([1])))).toBeUndefined();
  });

  test('other types and snapshots never merge', () => {
    const hb = message({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 2 });
    expect(merge(slot(hb), hb)).toBeUndefined();
    const snap = { ...app(10, 0, 9), snapshot: { metadata: { index: 10, term: 2, confState: { voters: [1n], learners: [] } }, data: new Uint8Array(0) } };
    expect(merge(slot(snap), app(10, 1, 9))).toBeUndefined();
  });
});

describe('merged messages drive Raft to the same state', () => {
  const IDS = [1n, 2n, 3n];

  /**
   * Three RawNodes in memory; node 1 leads, proposals arrive at every node, and each Ready's
   * messages are delivered either one by one or merged per recipient and lane as a lane merges
   * them. Returns each node's log (index:term:data) and commit index once all is quiet.
   */
  function run(merge: boolean, rounds: number, seed: number): { logs: string[][]; commits: number[]; messages: number } {
    const storages = IDS.map(() => new MemoryStorage({ confState: { voters: IDS, learners: [] } }));
    const nodes = IDS.map((id, k) => new RawNode({ id, storage: storages[k], electionTicks: 10, heartbeatTicks: 1, random: seededRandom(seed + k), preVote: false, checkQuorum: false }));
    let delivered = 0;
    const pump = (): void => {
      for (let guard = 0; guard < 1000; guard++) {
        let any = false;
        const outbox: Message[] = [];
        nodes.forEach((n, k) => {
          if (!n.hasReady()) return;
          any = true;
          const rd = n.ready();
          if (rd.hardState !== undefined) storages[k].setHardState(rd.hardState);
          if (rd.entries.length > 0) storages[k].append(rd.entries);
          outbox.push(...rd.messages);
          n.advance(rd);
        });
        if (!any) return;
        const lanes = new Map<string, Mergeable[]>();
        for (const m of outbox) {
          const key = `${m.to}/${m.type === MessageType.MsgApp ? 'app' : 'msg'}`;
          let lane = lanes.get(key);
          if (lane === undefined) lanes.set(key, (lane = []));
          const bytes = encodedMessageBytes(m);
          const last = [...lane].reverse().find((q) => q.m.type === m.type);
          if (merge && last !== undefined && mergeInto(last, m, bytes, 1 << 20) !== undefined) continue;
          lane.push({ m, bytes, ownsEntries: false });
        }
        for (const lane of lanes.values()) {
          for (const q of lane) {
            delivered++;
            nodes[IDS.indexOf(q.m.to)].step(q.m);
          }
        }
      }
      throw new Error('no quiescence');
    };
    nodes[0].campaign();
    pump();
    expect(nodes[0].status().state).toBe(StateType.Leader);
    let n = 0;
    for (let r = 0; r < rounds; r++) {
      // A burst of proposals at every member (followers forward theirs), then the Readies.
      for (let k = 0; k < 1 + ((r * 7 + seed) % 9); k++) for (const node of nodes) node.propose(new TextEncoder().encode(`v${n++}`));
      pump();
    }
    const logs = storages.map((s) => s.entries(s.firstIndex(), s.lastIndex() + 1).map((e) => `${e.index}:${e.term}:${Buffer.from(e.data).toString()}`));
    return { logs, commits: nodes.map((x) => x.status().commit), messages: delivered };
  }

  test.each([1, 2, 3])('seed %i: same logs and commit indexes, far fewer messages', (seed) => {
    const plain = run(false, 40, seed);
    const merged = run(true, 40, seed);
    expect(merged.logs).toEqual(plain.logs);
    expect(merged.commits).toEqual(plain.commits);
    expect(merged.logs[1]).toEqual(merged.logs[0]);
    expect(merged.logs[2]).toEqual(merged.logs[0]);
    expect(merged.commits.every((c) => c === merged.logs[0].length)).toBe(true);
    expect(merged.logs[0].length).toBeGreaterThan(200);
    expect(merged.messages).toBeLessThan(plain.messages / 3);
  });
});
