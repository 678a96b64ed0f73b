/**
 * Auto-compaction decisions (etcd 3.4's v3compactor) with a fake clock, the retention flag's
 * parsing, and the runtime compactor proposing CompactionRequests through a fake member.
 */
import { cairnpb, toNumber } from '../../proto';
import { createLogger } from '../log';
import { CompactedError } from '../mvcc/errors';
import { AutoCompactor, type CompactorMember } from './compactor';
import { PeriodicDecider, REVISION_CHECK_INTERVAL_MS, RevisionDecider } from './decide';
import { parseRetention } from './retention';

const HOUR = 3_600_000;
const MIN = 60_000;

describe('retention flag', () => {
  test('a plain number is hours (periodic) or revisions (revision); otherwise a Go duration; 0 is off', () => {
    expect(parseRetention('periodic', '1')).toEqual({ mode: 'periodic', periodMs: HOUR });
    expect(parseRetention('periodic', '30m')).toEqual({ mode: 'periodic', periodMs: 30 * MIN });
    expect(parseRetention('periodic', '1h30m')).toEqual({ mode: 'periodic', periodMs: 90 * MIN });
    expect(parseRetention('revision', '1000')).toEqual({ mode: 'revision', revisions: 1000 });
    expect(parseRetention('revision', '1us')).toEqual({ mode: 'revision', revisions: 1000 });
    expect(parseRetention('periodic', '0')).toEqual({ mode: 'off' });
    expect(parseRetention('revision', '')).toEqual({ mode: 'off' });
    expect(() => parseRetention('periodic', 'abc')).toThrow('error parsing CompactionRetention');
  });
});

describe('periodic decider', () => {
  test('checks every period / 10; first compaction one period after start, at the revision of then', () => {
    const d = new PeriodicDecider(10 * MIN, 0, 100);
    expect(d.checkIntervalMs).toBe(MIN);
    let rev = 100;
    const decisions: [number, number][] = [];
    for (let t = MIN; t <= 30 * MIN; t += MIN) {
      rev += 10;
      const at = d.check(t, rev, true);
      if (at !== undefined) {
        decisions.push([t / MIN, at]);
        d.succeeded(t, at);
      }
    }
    // At minute 10 the oldest recorded revision is the one at start; then every 10 minutes the one
    // recorded 10 minutes before.
    expect(decisions).toEqual([
      [10, 100],
      [20, 190],
      [30, 290],
    ]);
  });

  test('a period over an hour: checks every 6 minutes, compacts hourly after the first period', () => {
    const d = new PeriodicDecider(3 * HOUR, 0, 1);
    expect(d.checkIntervalMs).toBe(6 * MIN);
    const times: number[] = [];
    let rev = 1;
    for (let t = 6 * MIN; t <= 5 * HOUR; t += 6 * MIN) {
      rev++;
      const at = d.check(t, rev, true);
      if (at !== undefined) {
        times.push(t / HOUR);
        d.succeeded(t, at);
        // The oldest of the 31 revisions kept: at the first compaction the one at start (3 hours
        // ago); later the one recorded 31 checks (3 h 6 min) before, as etcd's ring of revisions.
        expect(rev - at).toBe(times.length === 1 ? 30 : 31);
      }
    }
    expect(times).toEqual([3, 4, 5]);
  });

  test('not on a follower; a failed compaction is retried at the next check', () => {
    const d = new PeriodicDecider(10 * MIN, 0, 5);
    for (let t = MIN; t < 10 * MIN; t += MIN) expect(d.check(t, 5 + t / MIN, true)).toBeUndefined();
    expect(d.check(10 * MIN, 15, false)).toBeUndefined();
    expect(d.check(11 * MIN, 16, true)).toBe(5);
    // Not reported as succeeded: tried again at the next check, at the then oldest revision.
    expect(d.check(12 * MIN, 17, true)).toBe(6);
  });
});

describe('revision decider', () => {
  test('keeps the last N revisions, skips a revision already compacted and non-positive ones', () => {
    const d = new RevisionDecider(10);
    expect(d.checkIntervalMs).toBe(REVISION_CHECK_INTERVAL_MS);
    expect(d.check(0, 5, true)).toBeUndefined();
    expect(d.check(0, 10, true)).toBeUndefined();
    expect(d.check(0, 25, true)).toBe(15);
    d.succeeded(0, 15);
    expect(d.check(0, 25, true)).toBeUndefined();
    expect(d.check(0, 30, false)).toBeUndefined();
    expect(d.check(0, 30, true)).toBe(20);
  });
});

describe('auto-compactor', () => {
  function fakeMember(fail?: unknown): CompactorMember & { proposed: number[] } {
    let id = 0;
    const proposed: number[] = [];
    return {
      isLeader: true,
      proposed,
      newRequestId: () => ++id,
      propose: async (_id, data) => {
        proposed.push(toNumber(cairnpb.InternalRequest.decode(data).compaction!.revision));
        if (fail !== undefined) throw fail;
        return {};
      },
    };
  }
  const log = createLogger({ level: 'fatal', component: 'test', name: 'test' });

  test('revision mode proposes a CompactionRequest at revision − retention through Raft', async () => {
    const member = fakeMember();
    let rev = 50;
    const c = new AutoCompactor({ retention: { mode: 'revision', revisions: 20 }, member, currentRevision: () => rev, clock: () => 0, log, checkIntervalMs: 10 });
    await c.tick();
    await c.tick();
    rev = 60;
    await c.tick();
    expect(member.proposed).toEqual([30, 40]);
  });

  test('an already compacted revision counts as done; other failures are retried', async () => {
    const compacted = fakeMember(new CompactedError(30, 35));
    const c1 = new AutoCompactor({ retention: { mode: 'revision', revisions: 20 }, member: compacted, currentRevision: () => 50, clock: () => 0, log });
    await c1.tick();
    await c1.tick();
    expect(compacted.proposed).toEqual([30]);
    const failing = fakeMember(new Error('disk'));
    const c2 = new AutoCompactor({ retention: { mode: 'revision', revisions: 20 }, member: failing, currentRevision: () => 50, clock: () => 0, log });
    await c2.tick();
    await c2.tick();
    expect(failing.proposed).toEqual([30, 30]);
  });
});
