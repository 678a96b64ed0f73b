/**
 * Locks and elections, etcd 3.4 vs Cairn.
 *
 * etcdctl 3.4's `lock` and `elect` run clientv3's concurrency recipe over KV, Watch and Lease: a
 * second `lock` waits until the first exits, `lock <name> <command>` runs the command while holding
 * it, `elect -l` observes. The v3lockpb.Lock and v3electionpb.Election gRPC services (which etcdctl
 * does not call) are driven over grpc-js with the generated codecs, with the same calls on both
 * servers and the answers compared. Lease IDs differ between servers: keys print them as <Ln>.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { etcdserverpb as pb, fromBigInt, toBigInt, toNumber, v3electionpb, v3lockpb, type Long } from '../proto';
import { ETCDCTL_BIN } from './harness/binaries';
import { usePair } from './harness/compare';
import type { Member } from './harness/member';

const pair = usePair();
let caseNo = 0;
const nextName = (tag: string): string => `${tag}${String(++caseNo).padStart(2, '0')}`;

// --- long-running etcdctl -------------------------------------------------------------------------

interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  /** Resolves true once stdout matches `re`, false after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<boolean>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
});

function start(member: Member, args: string[]): Running {
  const child = spawn(ETCDCTL_BIN, [`--endpoints=${member.endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      running.delete(child);
      resolve(code);
    }),
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', () => undefined);
  return {
    child,
    stdout: () => out,
    async waitFor(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (re.test(out)) return true;
        await sleep(50);
      }
      return re.test(out);
    },
    async stop(signal = 'SIGINT') {
      if (!exited) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Replaces `<name>/<hex>` lease suffixes by <L1>, <L2>... in order of first appearance. */
function leaseNames(text: string, name: string, seen: string[]): string {
  return text.replace(new RegExp(`${name}/([0-9a-f]+)`, 'g'), (_m, hex: string) => {
    if (!seen.includes(hex)) seen.push(hex);
    return `${name}/<L${seen.indexOf(hex) + 1}>`;
  });
}

async function bothSides<T>(run: (member: Member, side: 'etcd' | 'cairn') => Promise<T>): Promise<{ etcd: T; cairn: T }> {
  const [etcd, cairn] = await Promise.all([run(pair.etcd, 'etcd'), run(pair.cairn, 'cairn')]);
  return { etcd, cairn };
}

describe('etcdctl lock and elect, etcd vs Cairn', () => {
  test('a second lock waits until the first exits; lock <name> <command> runs the command holding it', async () => {
    const name = nextName('lk');
    const t = await bothSides(async (member) => {
      const seen: string[] = [];
      const log: string[] = [];
      const first = start(member, ['lock', name]);
      log.push(`first acquired: ${await first.waitFor(/\n/, 10_000)}`);
      const second = start(member, ['lock', name]);
      await sleep(700);
      log.push(`second before release: ${JSON.stringify(leaseNames(second.stdout(), name, seen))}`);
      const third = start(member, ['lock', name, 'sh', '-c', 'echo "running with $ETCD_LOCK_KEY"']);
      log.push(`first exit: ${await first.stop()}`);
      log.push(`second acquired: ${await second.waitFor(/\n/, 10_000)}`);
      await sleep(300);
      log.push(`third before release: ${JSON.stringify(third.stdout())}`);
      log.push(`second exit: ${await second.stop()}`);
      log.push(`third done: ${await third.waitFor(/running with/, 10_000)}`);
      log.push(`third exit: ${await third.stop()}`);
      log.push(`outputs: ${JSON.stringify([first.stdout(), second.stdout(), third.stdout()].map((o) => leaseNames(o, name, seen)))}`);
      return log;
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.join('\n')).toContain('second acquired: true');
  }, 40_000);

  test('elect campaigns and proclaims; elect -l observes leader changes', async () => {
    const name = nextName('el');
    const t = await bothSides(async (member) => {
      const seen: string[] = [];
      const log: string[] = [];
      const observer = start(member, ['elect', '-l', name]);
      await sleep(300);
      const a = start(member, ['elect', name, 'alpha']);
      log.push(`a leads: ${await a.waitFor(/alpha/, 10_000)}`);
      log.push(`observer saw a: ${await observer.waitFor(/alpha/, 10_000)}`);
      const b = start(member, ['elect', name, 'beta']);
      await sleep(700);
      log.push(`b before a resigns: ${JSON.stringify(b.stdout())}`);
      log.push(`a exit: ${await a.stop()}`);
      log.push(`b leads: ${await b.waitFor(/beta/, 10_000)}`);
      log.push(`observer saw b: ${await observer.waitFor(/beta/, 10_000)}`);
      log.push(`b exit: ${await b.stop()}`);
      await observer.stop();
      log.push(`outputs: ${JSON.stringify([a.stdout(), b.stdout(), observer.stdout()].map((o) => leaseNames(o, name, seen)))}`);
      return log;
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(t.etcd.join('\n')).toContain('observer saw b: true');
  }, 40_000);
});

// --- the gRPC services ----------------------------------------------------------------------------

type Outcome = { ok: unknown } | { error: { code: number; details: string } };

class Rpc {
  private readonly client: grpc.Client;
  constructor(endpoint: string) {
    this.client = new grpc.Client(endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure());
  }
  unary<Q, R>(path: string, req: Q, reqCodec: { encode(m: Q): { finish(): Uint8Array } }, resCodec: { decode(b: Uint8Array): R }, timeoutMs = 5_000): Promise<R> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        (m: Q) => Buffer.from(reqCodec.encode(m).finish()),
        (b: Buffer) => resCodec.decode(b),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });
  }
  observe(name: string): { responses: v3electionpb.LeaderResponse[]; cancel(): void } {
    const call = this.client.makeServerStreamRequest(
      '/v3electionpb.Election/Observe',
      (m: v3electionpb.ILeaderRequest) => Buffer.from(v3electionpb.LeaderRequest.encode(m).finish()),
      (b: Buffer) => v3electionpb.LeaderResponse.decode(b),
      { name: Buffer.from(name) },
      new grpc.Metadata(),
      {},
    );
    const responses: v3electionpb.LeaderResponse[] = [];
    call.on('data', (r: v3electionpb.LeaderResponse) => responses.push(r));
    call.on('error', () => undefined);
    return { responses, cancel: () => call.cancel() };
  }
  close(): void {
    this.client.close();
  }
}

/** Per-side state: a gRPC client, the case's base revision and the lease IDs it granted. */
class Side {
  readonly rpc: Rpc;
  base = 0;
  readonly leases: bigint[] = [];
  constructor(member: Member) {
    this.rpc = new Rpc(member.endpoint);
  }
  async begin(): Promise<void> {
    const r = await this.rpc.unary('/etcdserverpb.KV/Range', { key: Buffer.from('probe') }, pb.RangeRequest, pb.RangeResponse);
    this.base = toNumber(r.header!.revision!);
  }
  async grant(ttl: number): Promise<bigint> {
    const r = await this.rpc.unary('/etcdserverpb.Lease/LeaseGrant', { TTL: ttl }, pb.LeaseGrantRequest, pb.LeaseGrantResponse);
    const id = toBigInt(r.ID!);
    this.leases.push(id);
    return id;
  }
  async get(key: string): Promise<string[]> {
    const r = await this.rpc.unary('/etcdserverpb.KV/Range', { key: Buffer.from(key) }, pb.RangeRequest, pb.RangeResponse);
    return (r.kvs ?? []).map((kv) => `${this.text(Buffer.from(kv.key ?? []))}=${Buffer.from(kv.value ?? []).toString()}`);
  }
  /** Lease hex and decimal as <Ln>. */
  text(s: string | Buffer): string {
    let out = s.toString();
    this.leases.forEach((id, i) => {
      out = out.split(id.toString(16)).join(`<L${i + 1}>`);
    });
    return out;
  }
  rev(v: Long | number | null | undefined): string {
    const n = v == null ? 0 : toNumber(v);
    return n === 0 ? '0' : `R+${n - this.base}`;
  }
  /** A response as comparable JSON: IDs out, revisions relative, bytes as text, leases as <Ln>. */
  normalize(res: unknown): unknown {
    const walk = (v: unknown, key: string): unknown => {
      if (v === null || v === undefined) return v;
      if (Buffer.isBuffer(v) || v instanceof Uint8Array) return this.text(Buffer.from(v));
      if (typeof v === 'object' && 'low' in (v as object) && 'high' in (v as object)) {
        const long = v as Long;
        if (key === 'lease' || key === 'ID') {
          const id = toBigInt(long);
          const i = this.leases.indexOf(id);
          return id === 0n ? '0' : i >= 0 ? `<L${i + 1}>` : '<other lease>';
        }
        if (key === 'clusterId' || key === 'memberId' || key === 'raftTerm') return '<id>';
        if (/revision|Revision|^rev$/.test(key)) return this.rev(long);
        return long.toString();
      }
      if (Array.isArray(v)) return v.map((x) => walk(x, key));
      if (typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v as object)) o[k] = walk(x, k);
        return o;
      }
      if (key === 'raftTerm') return '<id>';
      if (typeof v === 'number' && /revision|Revision|^rev$/.test(key)) return this.rev(v);
      return v;
    };
    return walk(res, '');
  }
  async outcome<R>(p: Promise<R>): Promise<Outcome> {
    try {
      return { ok: this.normalize(await p) };
    } catch (err) {
      const e = err as grpc.ServiceError;
      // A deadline's text is the client's own (timings, addresses).
      const details = e.code === grpc.status.DEADLINE_EXCEEDED ? '<deadline exceeded>' : this.text(e.details ?? String(err));
      return { error: { code: e.code, details } };
    }
  }
}

function lock(side: Side, name: string, lease: bigint, timeoutMs = 10_000): Promise<v3lockpb.LockResponse> {
  return side.rpc.unary('/v3lockpb.Lock/Lock', { name: Buffer.from(name), lease: fromBigInt(lease, false) }, v3lockpb.LockRequest, v3lockpb.LockResponse, timeoutMs);
}
function unlock(side: Side, key: Uint8Array | string): Promise<v3lockpb.UnlockResponse> {
  return side.rpc.unary('/v3lockpb.Lock/Unlock', { key: Buffer.from(key) }, v3lockpb.UnlockRequest, v3lockpb.UnlockResponse);
}
function campaign(side: Side, name: string, lease: bigint, value: string, timeoutMs = 10_000): Promise<v3electionpb.CampaignResponse> {
  return side.rpc.unary('/v3electionpb.Election/Campaign', { name: Buffer.from(name), lease: fromBigInt(lease, false), value: Buffer.from(value) }, v3electionpb.CampaignRequest, v3electionpb.CampaignResponse, timeoutMs);
}
function leader(side: Side, name: string): Promise<v3electionpb.LeaderResponse> {
  return side.rpc.unary('/v3electionpb.Election/Leader', { name: Buffer.from(name) }, v3electionpb.LeaderRequest, v3electionpb.LeaderResponse);
}
function proclaim(side: Side, key: v3electionpb.ILeaderKey | null | undefined, value: string): Promise<v3electionpb.ProclaimResponse> {
  return side.rpc.unary('/v3electionpb.Election/Proclaim', { leader: key, value: Buffer.from(value) }, v3electionpb.ProclaimRequest, v3electionpb.ProclaimResponse);
}
function resign(side: Side, key: v3electionpb.ILeaderKey | null | undefined): Promise<v3electionpb.ResignResponse> {
  return side.rpc.unary('/v3electionpb.Election/Resign', { leader: key }, v3electionpb.ResignRequest, v3electionpb.ResignResponse);
}

/** Whether `p` is still pending after `ms`. */
async function pendingAfter(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return !settled;
}

describe('v3lockpb.Lock and v3electionpb.Election over gRPC, etcd vs Cairn', () => {
  const sides: Side[] = [];
  afterAll(() => sides.forEach((s) => s.rpc.close()));
  async function run(body: (side: Side) => Promise<unknown[]>): Promise<{ etcd: unknown[]; cairn: unknown[] }> {
    return bothSides(async (member) => {
      const side = new Side(member);
      sides.push(side);
      await side.begin();
      return body(side);
    });
  }

  test('Lock returns the key; a second Lock waits for Unlock; a cancelled Lock leaves no key; unknown lease', async () => {
    const name = nextName('glk');
    const t = await run(async (s) => {
      const log: unknown[] = [];
      const l1 = await s.grant(60);
      const l2 = await s.grant(60);
      const l3 = await s.grant(60);
      const first = await lock(s, name, l1);
      log.push(s.normalize(first));
      const second = lock(s, name, l2);
      log.push({ secondWaits: await pendingAfter(second, 500) });
      // A Lock whose deadline passes while waiting: its key is removed.
      log.push(await s.outcome(lock(s, name, l3, 400)));
      await sleep(300);
      log.push({ afterDeadline: await s.get(`${name}/${l3.toString(16)}`) });
      log.push(await s.outcome(unlock(s, first.key)));
      log.push(await s.outcome(second));
      log.push(await s.outcome(unlock(s, `${name}/${l2.toString(16)}`)));
      log.push(await s.outcome(lock(s, name, 0x7777n)));
      log.push(await s.outcome(unlock(s, '')));
      return log;
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(JSON.stringify(t.etcd)).toContain('requested lease not found');
  }, 30_000);

  test('Campaign, Leader, Proclaim, Observe, Resign, and their errors', async () => {
    const name = nextName('gel');
    const t = await run(async (s) => {
      const log: unknown[] = [];
      log.push(await s.outcome(leader(s, name)));
      const l1 = await s.grant(60);
      const l2 = await s.grant(60);
      const obs = s.rpc.observe(name);
      await sleep(200);
      const c1 = await campaign(s, name, l1, 'one');
      log.push(s.normalize(c1));
      log.push(await s.outcome(leader(s, name)));
      log.push(await s.outcome(proclaim(s, c1.leader, 'one-b')));
      log.push(await s.outcome(proclaim(s, { ...c1.leader, rev: toNumber(c1.leader!.rev!) + 100 }, 'x')));
      log.push(await s.outcome(proclaim(s, null, 'x')));
      const c2 = campaign(s, name, l2, 'two');
      log.push({ secondWaits: await pendingAfter(c2, 500) });
      log.push(await s.outcome(resign(s, c1.leader)));
      const c2r = await s.outcome(c2);
      log.push(c2r);
      log.push(await s.outcome(leader(s, name)));
      log.push(await s.outcome(resign(s, null)));
      await sleep(300);
      obs.cancel();
      log.push({ observed: obs.responses.map((r) => s.normalize(r)) });
      log.push(await s.outcome(campaign(s, `${name}x`, 0x7777n, 'v')));
      return log;
    });
    expect(t.cairn).toEqual(t.etcd);
    expect(JSON.stringify(t.etcd)).toContain('one-b');
  }, 30_000);
});
