/**
 * Runs one deterministic sequence of etcdctl commands against real etcd and against Cairn and returns
 * both normalized transcripts, for `expect(transcripts.cairn).toEqual(transcripts.etcd)`.
 *
 * A step's arguments may contain `{rev+k}` / `{rev-k}` / `{rev}`: each side substitutes its own
 * revision at the start of the sequence (its "base"), and revisions in the output are printed
 * relative to that base (`R+k`) unless `relativeRevisions: false`. So a sequence is judged by what it
 * did, also when an earlier sequence left the two servers at different revisions. The transcript
 * records the step as written (with `{rev+k}`), so both sides show the same command.
 *
 * `usePair()` starts one etcd and one Cairn for a whole test file (jest beforeAll/afterAll) with the
 * same flags, and stops running Cairn commands (failing fast) once Cairn has exited or stopped
 * answering, so that a hung server costs seconds, not the suite's time budget.
 */
import { etcdctl } from './etcdctl';
import { Member, startMember } from './member';
import { Identity, normalizeOutput, NormalizeOptions } from './normalize';

export interface Step {
  args: string[];
  /** stdin for etcdctl (txn, put without a value argument). */
  input?: string;
  env?: Record<string, string>;
}

export type StepLike = string[] | Step;

export interface TranscriptEntry {
  /** The step as written: `etcdctl <args>` plus `<<< input` when it had one. */
  cmd: string;
  code: number;
  stdout: string;
  stderr: string;
}

export type Transcript = TranscriptEntry[];

export interface CompareOptions extends NormalizeOptions {
  /** Print revisions relative to the sequence's start. Default true. */
  relativeRevisions?: boolean;
  /** Bound on each etcdctl run. Default 10 000 ms. */
  timeoutMs?: number;
}

export interface Transcripts {
  etcd: Transcript;
  cairn: Transcript;
}

export interface Pair {
  etcd: Member;
  cairn: Member;
}

/** Revision, member ID and cluster ID of a member, from a linearizable `get -w json`. */
export interface ProbeResult extends Identity {
  revision: number;
}

const probeKey = '__cairn_test_probe__';

function toStep(step: StepLike): Step {
  return Array.isArray(step) ? { args: step } : step;
}

function describeStep(step: Step): string {
  const cmd = ['etcdctl', ...step.args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a))].join(' ');
  return step.input === undefined ? cmd : `${cmd} <<< ${JSON.stringify(step.input)}`;
}

function substituteRevisions(text: string, base: number): string {
  return text.replace(/\{rev(?:([+-])(\d+))?\}/g, (_m, sign: string | undefined, delta: string | undefined) => {
    if (sign === undefined || delta === undefined) return String(base);
    return String(sign === '+' ? base + Number(delta) : base - Number(delta));
  });
}

/** Reads the member's current revision and IDs; undefined (with the raw result) on failure. */
export async function probe(member: Member, timeoutMs = 10_000): Promise<{ result?: ProbeResult; entry: TranscriptEntry }> {
  const res = await etcdctl(member.endpoint, ['get', probeKey, '-w', 'json'], { timeoutMs });
  const entry = { cmd: `harness probe: etcdctl get ${probeKey} -w json`, code: res.code, stdout: res.stdout, stderr: res.stderr };
  const revision = /"revision":(\d+)/.exec(res.stdout)?.[1];
  if (res.code !== 0 || revision === undefined) return { entry };
  return {
    entry,
    result: {
      revision: Number(revision),
      memberId: /"member_id":(\d+)/.exec(res.stdout)?.[1],
      clusterId: /"cluster_id":(\d+)/.exec(res.stdout)?.[1],
    },
  };
}

/** Runs `steps` in order against one member and returns the normalized transcript. */
export async function runSequence(member: Member, steps: readonly StepLike[], options: CompareOptions = {}): Promise<Transcript> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const probed = await probe(member, timeoutMs);
  if (probed.result === undefined) return [probed.entry];
  const base = probed.result.revision;
  const ctx = {
    endpoint: member.endpoint,
    peerUrl: member.peerUrl,
    identity: probed.result,
    revisionBase: options.relativeRevisions === false ? undefined : base,
  };
  const transcript: Transcript = [];
  for (const raw of steps) {
    const step = toStep(raw);
    const args = step.args.map((a) => substituteRevisions(a, base));
    const input = step.input === undefined ? undefined : substituteRevisions(step.input, base);
    const res = await etcdctl(member.endpoint, args, { input, env: step.env, timeoutMs });
    transcript.push({
      cmd: describeStep(step),
      code: res.code,
      stdout: normalizeOutput(res.stdout, ctx, options),
      stderr: normalizeOutput(res.stderr, ctx, options),
    });
  }
  return transcript;
}

/** Runs the same steps against both members (concurrently: they are independent servers). */
export async function compareOn(pair: Pair, steps: readonly StepLike[], options: CompareOptions = {}): Promise<Transcripts> {
  const [etcd, cairn] = await Promise.all([runSequence(pair.etcd, steps, options), runSequence(pair.cairn, steps, options)]);
  return { etcd, cairn };
}

/** Starts a fresh etcd and a fresh Cairn with `flags`, runs the steps on both, stops both. */
export async function compareFresh(steps: readonly StepLike[], options: CompareOptions & { flags?: string[] } = {}): Promise<Transcripts> {
  const [etcd, cairn] = await Promise.allSettled([
    startMember({ kind: 'etcd', flags: options.flags }),
    startMember({ kind: 'cairn', flags: options.flags }),
  ]);
  try {
    if (etcd.status === 'rejected') throw etcd.reason;
    if (cairn.status === 'rejected') throw cairn.reason;
    return await compareOn({ etcd: etcd.value, cairn: cairn.value }, steps, options);
  } finally {
    for (const started of [etcd, cairn]) if (started.status === 'fulfilled') await started.value.cleanup();
  }
}

function unanswered(entry: TranscriptEntry): boolean {
  return entry.code === -1 || /context deadline exceeded|connection refused|Unavailable desc/.test(entry.stderr);
}

export interface PairHandle {
  readonly etcd: Member;
  readonly cairn: Member;
  /** compareOn() on this file's pair; throws at once if Cairn has exited or stopped answering. */
  compare(steps: readonly StepLike[], options?: CompareOptions): Promise<Transcripts>;
}

/**
 * Registers beforeAll/afterAll hooks that start one etcd and one Cairn (same flags) for the test
 * file and stop them afterwards. Call at the top level of a test file.
 */
export function usePair(options: { flags?: string[]; unansweredMax?: number } = {}): PairHandle {
  let pair: Pair | undefined;
  let startError: unknown;
  let unansweredCount = 0;
  const unansweredMax = options.unansweredMax ?? 3;
  beforeAll(async () => {
    const [etcd, cairn] = await Promise.allSettled([
      startMember({ kind: 'etcd', flags: options.flags }),
      startMember({ kind: 'cairn', flags: options.flags }),
    ]);
    if (etcd.status === 'fulfilled' && cairn.status === 'fulfilled') {
      pair = { etcd: etcd.value, cairn: cairn.value };
      return;
    }
    for (const started of [etcd, cairn]) if (started.status === 'fulfilled') await started.value.cleanup();
    startError = etcd.status === 'rejected' ? etcd.reason : (cairn as PromiseRejectedResult).reason;
  }, 60_000);
  afterAll(async () => {
    if (pair === undefined) return;
    await Promise.all([pair.etcd.cleanup(), pair.cairn.cleanup()]);
  }, 30_000);
  const current = (): Pair => {
    if (pair !== undefined) return pair;
    throw startError instanceof Error ? startError : new Error(`servers did not start: ${String(startError)}`);
  };
  return {
    get etcd() {
      return current().etcd;
    },
    get cairn() {
      return current().cairn;
    },
    async compare(steps, compareOptions) {
      const p = current();
      if (!p.etcd.running()) throw new Error(`etcd exited during the test file:\n${p.etcd.output()}`);
      if (!p.cairn.running()) throw new Error(`Cairn exited during the test file; its output:\n${p.cairn.output()}`);
      if (unansweredCount >= unansweredMax) {
        throw new Error(`Cairn stopped answering (${unansweredCount} etcdctl commands timed out or could not connect); not running more commands against it`);
      }
      const transcripts = await compareOn(p, steps, compareOptions);
      unansweredCount += transcripts.cairn.filter(unanswered).length;
      return transcripts;
    },
  };
}

/**
 * Fresh, strictly increasing key prefixes (`<tag>001/`, `<tag>002/`, ...) for the cases of one test
 * file, so cases sharing a server do not see each other's keys, and a `--from-key` read at the
 * newest prefix sees only its own case's keys.
 */
export function prefixSequence(tag: string): () => string {
  let n = 0;
  return () => `${tag}${String(++n).padStart(3, '0')}/`;
}

/** The normalized stdout of a transcript entry parsed as JSON (etcdctl -w json output). */
export function parseJson(entry: TranscriptEntry | undefined): any {
  if (entry === undefined) throw new Error('no such transcript entry');
  try {
    return JSON.parse(entry.stdout);
  } catch {
    throw new Error(`not JSON (${entry.cmd}, exit ${entry.code}): ${entry.stdout}\n${entry.stderr}`);
  }
}

/** Base64 (as in etcdctl -w json keys and values) to text. */
export function b64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}

/** The last line of stderr: etcdctl's `Error: ...` line. */
export function errorLine(entry: TranscriptEntry | undefined): string {
  const lines = (entry?.stderr ?? '').trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}
