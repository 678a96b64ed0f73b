/**
 * The failover scenario (3-member clusters): under a steady put load, `kill -9` the leader and
 * measure the time from the kill to the next successful write — a put sent at or after the kill
 * that the cluster acknowledges. The load is open loop (puts scheduled at a fixed rate, each with
 * its own timeout, in-flight calls bounded) and goes to the members that are not the leader, so a
 * put that hangs on the dead leader's behalf cannot delay the measurement of the next one. After
 * each kill the member is started again on its data and the cluster is given time to settle, so
 * each repetition kills the leader of a full cluster. Repetitions alternate between targets.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { GrpcConnection, GrpcStatus, grpcStatusName } from './grpc-client';
import { Instance, Lab } from './lab';
import { decodeStatusResponse, encodePutRequest, KV_PUT_PATH, MAINTENANCE_STATUS_PATH } from './messages';
import { callOnce } from './probe';
import { randomPrintable } from './workloads';

export interface FailoverSample {
  round: number;
  /** Kill → completion of the first successful put sent at or after the kill, ms; null when none within the timeout. */
  recoveryMs: number | null;
  killedMember: string;
  newLeader: string | null;
  /** Puts sent at or after the kill that failed (or timed out) before the recovery. */
  failedPuts: number;
  /** Puts acknowledged in the steady second before the kill (the load was running). */
  putsBeforeKill: number;
  /** Error tally of the failed puts (`STATUS: message`). */
  errors: Record<string, number>;
}

export interface FailoverTargetResult {
  target: string;
  samples: FailoverSample[];
}

export interface FailoverScenarioResult {
  kind: 'failover';
  name: 'failover';
  title: string;
  targets: FailoverTargetResult[];
}

export interface FailoverOptions {
  repetitions: number;
  /** Puts per second of the steady load (spread over the followers). */
  putRate: number;
  /** Steady load before the kill, ms. */
  steadyMs: number;
  /** Give up waiting for a successful put after the kill, ms. */
  recoveryTimeoutMs: number;
  /** Per-put timeout, ms. */
  callTimeoutMs: number;
  heartbeatMs: number;
  electionMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** After each repetition (progress). */
  onSample?: (target: string, sample: FailoverSample) => void;
}

/** At most this many puts in flight (a slot that finds the cap reached is skipped). */
const MAX_IN_FLIGHT = 2000;

/** The index of the member every running member names as leader. @throws Error when they do not agree within `timeoutMs`. */
export async function findLeader(instance: Instance, timeoutMs = 15_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    const running = instance.members.map((m, i) => ({ m, i })).filter(({ m }) => m.server === null || m.server.running);
    const answers = await Promise.all(
      running.map(async ({ m, i }) => {
        let connection: GrpcConnection | null = null;
        try {
          connection = await GrpcConnection.connect(m.url, { connectTimeoutMs: 1000 });
          const outcome = await callOnce(connection, MAINTENANCE_STATUS_PATH, Buffer.alloc(0), 2000);
          if (outcome.status !== GrpcStatus.OK) return { i, error: `${m.name}: ${grpcStatusName(outcome.status)}: ${outcome.message}` };
          return { i, ...decodeStatusResponse(outcome.response!) };
        } catch (err) {
          return { i, error: `${m.name}: ${(err as Error).message}` };
        } finally {
          connection?.destroy();
        }
      }),
    );
    const failed = answers.find((a) => 'error' in a);
    if (failed !== undefined && 'error' in failed) last = String(failed.error);
    else {
      const ok = answers as { i: number; memberId: Buffer | null; leader: Buffer | null }[];
      const leader = ok[0]?.leader;
      const agreed = leader !== null && leader !== undefined && leader.length > 0 && !(leader.length === 1 && leader[0] === 0) && ok.every((a) => a.leader !== null && a.leader.equals(leader));
      const self = agreed ? ok.find((a) => a.memberId !== null && a.memberId.equals(leader)) : undefined;
      if (self !== undefined) return self.i;
      last = agreed ? 'the leader named by the members is not one of them' : 'members do not agree on a leader yet';
    }
    await sleep(100);
  }
  throw new Error(`${instance.target.name}: no agreed leader within ${timeoutMs} ms (last: ${last})`);
}

/** One repetition: steady load on the followers, kill the leader, time the next successful write, restart the member. */
async function failoverOnce(lab: Lab, instance: Instance, round: number, options: FailoverOptions): Promise<FailoverSample> {
  const leaderIndex = await findLeader(instance);
  const leader = instance.members[leaderIndex]!;
  const followers = instance.members.filter((_, i) => i !== leaderIndex);
  const connections = await Promise.all(followers.map((m) => GrpcConnection.connect(m.url)));
  const padding = randomPrintable(1 << 16, 0x7f4a7c15 + round);
  const errors: Record<string, number> = {};
  let killAtMs = Infinity;
  // In an object: assigned in callbacks, which control-flow narrowing does not follow.
  const recovery: { atMs: number | null } = { atMs: null };
  let failedPuts = 0;
  let putsBeforeKill = 0;
  let inFlight = 0;
  let sent = 0;
  let stop = false;
  const steadyFromMs = performance.now();
  let onRecovered: () => void = () => undefined;
  const recovered = new Promise<void>((resolve) => (onRecovered = resolve));
  const rateStart = performance.now();
  const put = (): void => {
    const sentAtMs = performance.now();
    const connection = connections[sent % connections.length]!;
    const key = Buffer.from(`failover/${String(sent % 10_000).padStart(5, '0')}`, 'latin1');
    const o = (sent * 997) % (padding.length - 256);
    sent++;
    inFlight++;
    void callOnce(connection, KV_PUT_PATH, encodePutRequest({ key, value: padding.subarray(o, o + 256) }), options.callTimeoutMs).then((outcome) => {
      inFlight--;
      const doneMs = performance.now();
      if (outcome.status === GrpcStatus.OK) {
        if (sentAtMs < killAtMs) putsBeforeKill++;
        else if (recovery.atMs === null) {
          recovery.atMs = doneMs;
          onRecovered();
        }
      } else if (sentAtMs >= killAtMs && recovery.atMs === null) {
        failedPuts++;
        const k = `${grpcStatusName(outcome.status)}: ${outcome.message}`;
        errors[k] = (errors[k] ?? 0) + 1;
      }
    });
  };
  const ticker = (async () => {
    while (!stop) {
      const due = Math.floor(((performance.now() - rateStart) * options.putRate) / 1000) + 1;
      while (sent < due && !stop) {
        if (inFlight >= MAX_IN_FLIGHT) {
          sent++; // skipped: too many in flight
          continue;
        }
        put();
      }
      await sleep(Math.max(1, 1000 / options.putRate));
    }
  })();
  try {
    await sleep(options.steadyMs);
    if (options.signal?.aborted === true) throw new Error('interrupted');
    if (putsBeforeKill === 0) throw new Error(`${instance.target.name}: no put succeeded in ${Math.round(performance.now() - steadyFromMs)} ms before the kill (is the cluster writable?)`);
    killAtMs = performance.now();
    const killed = leader.server!.kill();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([recovered, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.recoveryTimeoutMs)))]);
    clearTimeout(timer);
    await killed;
  } finally {
    stop = true;
    await ticker;
    const drainUntil = performance.now() + options.callTimeoutMs + 500;
    while (inFlight > 0 && performance.now() < drainUntil) await sleep(10);
    for (const c of connections) c.destroy();
  }
  let newLeader: string | null = null;
  try {
    newLeader = instance.members[await findLeader(instance, 5000)]!.name;
  } catch {
    newLeader = null;
  }
  // Bring the killed member back on its data, and let it catch up, for the next repetition.
  await lab.restartMember(instance, leaderIndex);
  await findLeader(instance);
  await sleep(500);
  return { round, recoveryMs: recovery.atMs === null ? null : recovery.atMs - killAtMs, killedMember: leader.name, newLeader, failedPuts, putsBeforeKill, errors };
}

/** Runs `repetitions` kills on each target's cluster, alternating targets. */
export async function runFailoverScenario(lab: Lab, instances: Instance[], options: FailoverOptions): Promise<FailoverScenarioResult> {
  for (const instance of instances) {
    if (instance.members.length < 3) throw new Error(`failover needs clusters of 3 members (--members 3); ${instance.target.name} has ${instance.members.length}`);
    if (instance.members.some((m) => m.server === null)) throw new Error('failover needs servers started by the benchmark (not --endpoint): it kills and restarts members');
  }
  const targets: FailoverTargetResult[] = instances.map((i) => ({ target: i.target.name, samples: [] }));
  for (let round = 1; round <= options.repetitions; round++) {
    for (const [t, instance] of instances.entries()) {
      if (options.signal?.aborted === true) throw new Error('interrupted');
      const sample = await failoverOnce(lab, instance, round, options);
      targets[t]!.samples.push(sample);
      options.onSample?.(instance.target.name, sample);
      options.log(
        `[failover] ${round}/${options.repetitions} ${instance.target.name}: killed leader ${sample.killedMember}, next successful write after ${sample.recoveryMs === null ? `none within ${options.recoveryTimeoutMs} ms` : `${Math.round(sample.recoveryMs)} ms`}, new leader ${sample.newLeader ?? '?'}, ${sample.failedPuts} failed puts`,
      );
    }
  }
  return {
    kind: 'failover',
    name: 'failover',
    title: `failover: kill -9 the leader of a 3-member cluster under ${options.putRate} puts/s (open loop, to the followers), time to the next successful write; --heartbeat-interval ${options.heartbeatMs} --election-timeout ${options.electionMs}; median of ${options.repetitions}`,
    targets,
  };
}
