/**
 * The member thread's composition root: builds the store, the Raft member and the services from
 * the configuration, then serves calls handed over by the transport thread (server/api/bridge.ts).
 *
 * Messages from the transport thread: `calls` (a CallBatch) and `stop`. To it: `ready` (the
 * methods served and the member's identity), `results` (a ResultBatch), `leader` (leader changes,
 * for /health), `stopped` and `fatal`.
 */
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { strict as assert } from 'node:assert';
import { loadConfig, type MemberConfig } from '../cli/config';
import { createLogger, type Logger } from '../log';
import { openMvccStore } from '../mvcc/store';
import { KvApplier } from '../apply/kv';
import { buildServices, applyInternalRequest, errorStatus } from '../api/services';
import { CallServer, type CallBatch } from '../api/bridge';
import { Member, type MemberInfo, type OpenedWal, type WalMetadata } from './member';
import { startPeers, type Peers } from './peers';
import { Membership, fromStored, publishAttributes, toStored } from './membership';
import { ClusterControl } from './cluster-control';
import { backendSnapshots, finishStagedSnapshot } from './backend-snapshots';
import { fetchMembers, forwardPromote } from '../transport/members-client';
import { EtcdError, isEtcdErrorKind } from '../errors';
import { computeClusterId, computeMemberId } from './ids';
import { Wal } from '../wal';
import { DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS, Lessor, minLeaseTtlSec } from '../lease/lessor';
import { restoreLeases } from '../lease/restore';
import { LeaseApplier } from '../lease/apply';
import { LeaseService } from '../lease/service';
import { LeaseLeaderLoop } from '../lease/leader-loop';
import { LIMITS } from '../limits';
import { DiskMetrics, MemberMetrics } from '../metrics/member-metrics';
import { ConcurrencyService } from '../concurrency/service';
import { AlarmStore, BACKEND_SIZE_REFRESH_MS, BackendQuota, BackendSizeGauge, QuotaApplier } from '../apply/quota';
import { AutoCompactor } from '../compactor/compactor';
import { parseRetention } from '../compactor/retention';

/**
 * How often the leader checkpoints remaining lease TTLs when --experimental-enable-lease-checkpoint
 * is on: etcd's 5 minutes, or CAIRN_LEASE_CHECKPOINT_INTERVAL_MS (tests); undefined when off.
 */
function leaseCheckpointIntervalMs(config: MemberConfig, env: Record<string, string | undefined>): number | undefined {
  if (!config.enableLeaseCheckpoint) return undefined;
  const fromEnv = Number(env.CAIRN_LEASE_CHECKPOINT_INTERVAL_MS ?? '');
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_LEASE_CHECKPOINT_INTERVAL_MS;
}

/**
 * Starts the auto-compactor of --auto-compaction-mode/--auto-compaction-retention (undefined when
 * off). CAIRN_AUTO_COMPACTION_INTERVAL_MS (tests) overrides how often it checks.
 */
function startAutoCompactor(config: MemberConfig, env: Record<string, string | undefined>, member: Member, currentRevision: () => number, log: Logger): AutoCompactor | undefined {
  const retention = parseRetention(config.autoCompactionMode, config.autoCompactionRetention);
  if (retention.mode === 'off') return undefined;
  const fromEnv = Number(env.CAIRN_AUTO_COMPACTION_INTERVAL_MS ?? '');
  const checkIntervalMs = Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
  const compactor = new AutoCompactor({ retention, member, currentRevision, clock: Date.now, log, checkIntervalMs });
  compactor.start();
  log.info({ mode: retention.mode, retention: config.autoCompactionRetention, checkIntervalMs: compactor.decider.checkIntervalMs }, 'started auto-compactor');
  return compactor;
}

export interface MemberThreadData {
  readonly argv: readonly string[];
  readonly env: Record<string, string | undefined>;
}

export type FromMember =
  | { kind: 'ready'; methods: { path: string; kind: 'unary' | 'server-stream' | 'client-stream' | 'bidi' }[]; memberId: string; clusterId: string }
  | { kind: 'leader'; leader: string; term: number }
  | { kind: 'stopped' }
  | { kind: 'fatal'; message: string };

/** Who this member is and which members it knows at start. */
interface Identity {
  memberId: bigint;
  clusterId: bigint;
  /** The bootstrap membership (new cluster), or the members fetched when joining. */
  members: MemberInfo[];
  /** True for a member that joined an existing cluster (--initial-cluster-state existing). */
  joined: boolean;
}

/**
 * Resolves the cluster's members and this member's identity: from the WAL on restart; from
 * --initial-cluster for a new cluster; for --initial-cluster-state existing, from the member list
 * of a running member (as etcd's joining member asks its peers), which must already list this
 * member's peer URLs (added with `member add`).
 */
async function resolveIdentity(config: MemberConfig, existing: OpenedWal | undefined, log: Logger): Promise<Identity> {
  if (existing !== undefined) {
    const meta = JSON.parse(Buffer.from(existing.metadata).toString('utf8')) as WalMetadata;
    const members = meta.members.map((m) => ({ ...m, id: BigInt('0x' + m.id) }));
    const memberId = BigInt('0x' + meta.memberId);
    // Client URLs are this member's own to advertise, whatever they were when it was created.
    const self = members.find((m) => m.id === memberId);
    if (self !== undefined) self.clientUrls = [...config.advertiseClientUrls];
    return { memberId, clusterId: BigInt('0x' + meta.clusterId), members, joined: meta.joined === true };
  }
  const advertised = [...config.initialAdvertisePeerUrls].sort().join(',');
  if (config.initialClusterState === 'existing') {
    const ownUrls = new Set(config.initialAdvertisePeerUrls);
    const urls = [...config.initialCluster].flatMap(([, peerUrls]) => peerUrls).filter((u) => !ownUrls.has(u));
    if (urls.length === 0) throw new Error('--initial-cluster-state existing needs the peer URLs of running members in --initial-cluster');
    const errors: string[] = [];
    for (const url of urls) {
      try {
        const remote = await fetchMembers(url, 2000);
        const isSelf = (peerUrls: readonly string[]): boolean => [...peerUrls].sort().join(',') === advertised;
        const members: MemberInfo[] = remote.members.map((m) => {
          const member = fromStored(m);
          return isSelf(m.peerUrls) ? { ...member, name: config.name, clientUrls: [...config.advertiseClientUrls] } : member;
        });
        const self = members.find((m) => isSelf(m.peerUrls));
        if (self === undefined) {
          throw new Error(`member with peer URLs ${advertised} is not in the cluster's member list: add it first (etcdctl member add ${config.name} --peer-urls=${config.initialAdvertisePeerUrls.join(',')})`);
        }
        log.info({ from: url, memberId: self.id.toString(16), clusterId: remote.clusterId.toString(16), members: members.length }, 'joining an existing cluster');
        return { memberId: self.id, clusterId: remote.clusterId, members, joined: true };
      } catch (err) {
        errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
        if (err instanceof Error && err.message.includes('is not in the cluster')) break;
      }
    }
    throw new Error(`cannot fetch cluster info from peer urls: ${errors.join('; ')}`);
  }
  const members: MemberInfo[] = [];
  for (const [name, peerUrls] of config.initialCluster) {
    members.push({ id: computeMemberId(peerUrls, config.initialClusterToken), name, peerUrls, clientUrls: name === config.name ? [...config.advertiseClientUrls] : [], isLearner: false });
  }
  const self = members.find((m) => m.name === config.name);
  if (self === undefined) {
    throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration (--initial-cluster)`);
  }
  if ([...self.peerUrls].sort().join(',') !== advertised) {
    throw new Error(`--initial-cluster has ${config.name}=${self.peerUrls.join(',')} but missing from --initial-advertise-peer-urls=${config.initialAdvertisePeerUrls.join(',')}`);
  }
  return { memberId: self.id, clusterId: computeClusterId(members.map((m) => m.id)), members, joined: false };
}

async function run(data: MemberThreadData): Promise<void> {
  assert(parentPort !== null, 'the member runs on a worker thread');
  const port = parentPort;
  const loaded = loadConfig(data.argv, data.env);
  assert(loaded.config !== undefined);
  const config = loaded.config;
  const log: Logger = createLogger({ level: config.logLevel, component: 'member', name: config.name });
  const walDir = config.walDir !== '' ? config.walDir : path.join(config.dataDir, 'member', 'wal');
  const existingWal = Wal.exists(walDir) ? await Wal.open(walDir, {}) : undefined;
  const identity = await resolveIdentity(config, existingWal, log);
  const dbDir = path.join(config.dataDir, 'member', 'db');
  const snapDir = path.join(config.dataDir, 'member', 'snap');
  await finishStagedSnapshot({ dbDir, snapDir, walSnapshotIndex: existingWal?.snapshot?.index ?? 0, log });
  const store = await openMvccStore({ dir: dbDir, compactionBatchLimit: config.compactionBatchLimit });
  log.info({ revision: store.currentRevision, compactRevision: store.compactRevision, consistentIndex: store.consistentIndex }, 'opened backend');
  const lessor = new Lessor({ minTtlSec: minLeaseTtlSec(config), checkpointIntervalMs: leaseCheckpointIntervalMs(config, data.env), records: store });
  const restored = await restoreLeases(lessor, store);
  if (restored.leases > 0) log.info(restored, 'restored leases');
  const applier = new KvApplier({
    store,
    leaseExists: (id) => lessor.exists(id),
    attachLease: (id, key) => lessor.attach(id, key),
    detachLease: (id, key) => lessor.detach(id, key),
    leaseOfKey: (key) => lessor.leaseOf(key),
  });
  const leaseApplier = new LeaseApplier({ lessor, store, clock: Date.now });
  const backendSize = new BackendSizeGauge(() => store.dbSize());
  await backendSize.start(BACKEND_SIZE_REFRESH_MS);
  const quota = new QuotaApplier(new BackendQuota(config.quotaBackendBytes, () => backendSize.sizeBytes, () => backendSize.refresh()), new AlarmStore(store));
  if (quota.alarms.get().length > 0) log.warn({ alarms: quota.alarms.get().map((a) => `${a.memberId.toString(16)}:${a.alarm}`) }, 'alarms raised before the restart are still active');
  const fatal = (err: unknown): void => {
    log.fatal({ err }, 'fatal storage error; stopping');
    port.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies FromMember);
    setTimeout(() => process.exit(1), 100);
  };
  // The call server needs the services, which need the member: the member reaches the server's
  // answer batch through this reference once both exist.
  let callServer: CallServer | undefined;
  // The member list, kept by applying the log (membership.ts). A member that joined starts from
  // nothing and replays the log (or takes a snapshot); the list it fetched tells it peer URLs.
  const memberList: MemberInfo[] = identity.joined ? [] : identity.members.map((m) => ({ ...m }));
  const membership = new Membership(store, memberList, new Map(identity.members.map((m) => [m.id, m])));
  const confState = membership.stored || !identity.joined ? membership.confState() : { voters: [], learners: [] };
  // Other members: messages out from each Ready, in to the Raft node.
  const peers: Peers = await startPeers({
    config,
    memberId: identity.memberId,
    clusterId: identity.clusterId,
    members: membership.stored ? memberList : identity.members,
    describeMembers: () => memberList.map(toStored),
    isRemoved: (id) => membership.isRemoved(id),
    promote: async (id) => {
      if (clusterRef === undefined) throw new EtcdError('NotCapable');
      return (await clusterRef.promote(id)).members.map(toStored);
    },
    // As etcd: a member removed from the cluster stops once a peer tells it so.
    onRemoved: () => fatal(new Error('the member has been permanently removed from the cluster')),
    log,
  });
  let removedSelf = false;
  membership.listener = {
    added: (m) => peers.addPeer(m.id, m.peerUrls),
    updated: (m) => peers.updatePeer(m.id, m.peerUrls),
    removed: (id) => {
      if (id === identity.memberId) removedSelf = true;
      else peers.removePeer(id);
    },
  };
  let clusterRef: ClusterControl | undefined;
  // What a received snapshot replaces is reloaded from the new store (references set below).
  let afterSnapshotInstall: () => Promise<void> = async () => undefined;
  const diskMetrics = new DiskMetrics();
  const member = await Member.open({
    walDir,
    existingWal,
    memberId: identity.memberId,
    clusterId: identity.clusterId,
    members: memberList,
    confState,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    electionTimeoutMs: config.electionTimeoutMs,
    preVote: config.preVote,
    snapshotCount: config.snapshotCount,
    snapshotCatchUpEntries: config.snapshotCatchUpEntries,
    store,
    applyEntry: (entryData) => applyInternalRequest(entryData, { kv: applier, leases: leaseApplier, quota, membership }),
    applyConfChange: (cc) => {
      const result = membership.applyConfChange(cc, log);
      if (removedSelf) {
        // As etcd: a member removed from the cluster stops.
        setImmediate(() => fatal(new Error('the member has been permanently removed from the cluster')));
      }
      return result;
    },
    log,
    random: Math.random,
    flushAnswers: () => callServer?.flushAnswers(),
    walBlockingSaveBytesMax: LIMITS.walBlockingSaveBytesMax,
    transport: peers,
    onFatal: fatal,
    observer: diskMetrics,
    snapshots: backendSnapshots({ store, dbDir, snapDir, afterInstall: () => afterSnapshotInstall(), log }),
    walMetadataMembers: identity.members,
    walMetadataJoined: identity.joined,
  });
  peers.attach(member);
  const publishing = publishAttributes({ member, name: config.name, clientUrls: config.advertiseClientUrls, log });
  member.onLeaderChange = (leader, term) => {
    // The leader counts lease TTLs (extended by an election timeout, as etcd); others do not.
    if (leader === identity.memberId) lessor.promote(Date.now(), config.electionTimeoutMs);
    else lessor.demote();
    port.postMessage({ kind: 'leader', leader: leader.toString(16), term } satisfies FromMember);
  };
  const cluster = (clusterRef = new ClusterControl({
    member,
    membership,
    activeSince: (id) => peers.activeSince(id),
    strictReconfigCheck: config.strictReconfigCheck,
    forwardPromote: async (leader, id) => {
      const errors: string[] = [];
      for (const url of leader.peerUrls) {
        try {
          const answer = await forwardPromote(url, identity.clusterId, id, 5000 + 2 * config.electionTimeoutMs);
          if (!answer.ok) throw isEtcdErrorKind(answer.error) ? new EtcdError(answer.error) : new Error(answer.error);
          return answer.members.map(fromStored);
        } catch (err) {
          if (err instanceof EtcdError) throw err;
          errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      log.warn({ leader: leader.id.toString(16), errors }, 'could not forward a member promotion to the leader');
      throw new EtcdError('Timeout');
    },
  }));
  const leaseService = new LeaseService({ member, lessor, currentRevision: () => store.currentRevision, clock: Date.now, maxRequestBytes: config.maxRequestBytes, log });
  const leaseLoop = new LeaseLeaderLoop({ lessor, member, clock: Date.now, log });
  leaseLoop.start();
  const autoCompactor = startAutoCompactor(config, data.env, member, () => store.currentRevision, log);
  const watchService = (await import('../watch/service')).createWatchService({ store, member, maxRequestBytes: config.maxRequestBytes, progressIntervalMs: config.watchProgressNotifyIntervalMs, log });
  afterSnapshotInstall = async () => {
    lessor.reset();
    const leases = await restoreLeases(lessor, store);
    membership.reload();
    quota.alarms.reload();
    watchService.hub.resyncAll();
    log.info({ revision: store.currentRevision, compactRevision: store.compactRevision, leases: leases.leases, members: memberList.length }, 'reloaded the state machine from the snapshot');
  };
  const concurrency = new ConcurrencyService({ member, store, maxRequestBytes: config.maxRequestBytes, log });
  const memberMetrics = new MemberMetrics({ member, store: { dbSize: () => store.dbSize(), keyCount: () => store.read().range(Buffer.from([0]), Buffer.from([0]), { countOnly: true }).count }, watch: watchService.hub }, diskMetrics);
  const services = buildServices({ member, store, applier, maxTxnOps: config.maxTxnOps, maxRequestBytes: config.maxRequestBytes, log, leaseMethods: leaseService.unaryMethods, metricsText: () => memberMetrics.text(), concurrencyMethods: concurrency.unaryMethods, quota, cluster }, [leaseService.keepAliveMethod, watchService.method, ...concurrency.streamingMethods]);
  const server = (callServer = new CallServer(
    port,
    services.methods.map((m) => m.handler),
    (err) => errorStatus(err, log),
  ));
  port.on('message', (msg: CallBatch | { kind: 'stop' }) => {
    if (msg.kind === 'calls') {
      server.onCalls(msg);
    } else if (msg.kind === 'stop') {
      publishing.stop();
      leaseLoop.stop();
      backendSize.stop();
      autoCompactor?.stop();
      member
        .close()
        .then(() => peers.close())
        .then(() => store.close())
        .then(
          () => port.postMessage({ kind: 'stopped' } satisfies FromMember),
          (err) => fatal(err),
        );
    }
  });
  // As etcd, clients are served once this member has published its name and client URLs through
  // Raft (every member then lists them); without a quorum for that long, serve anyway (reads with
  // --consistency=s still answer) and say so.
  const readyBoundMs = config.electionTimeoutMs * 10;
  let readyTimer: NodeJS.Timeout | undefined;
  const publishedInTime = await Promise.race([
    publishing.published.then(() => true),
    new Promise<boolean>((resolve) => (readyTimer = setTimeout(() => resolve(false), readyBoundMs))),
  ]);
  clearTimeout(readyTimer);
  if (!publishedInTime) log.warn({ waitedMs: readyBoundMs }, 'not yet published to the cluster (no quorum?); serving anyway');
  port.postMessage({ kind: 'ready', methods: services.methods.map((m) => ({ path: m.path, kind: m.kind })), memberId: identity.memberId.toString(16), clusterId: identity.clusterId.toString(16) } satisfies FromMember);
}

if (parentPort !== null && workerData !== null && workerData !== undefined) {
  run(workerData as MemberThreadData).catch((err) => {
    parentPort!.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies FromMember);
  });
}
