/**
 * One typed member configuration from etcd's three sources, with etcd's precedence: a YAML
 * `--config-file` (when given, other flags and ETCD_* variables are ignored, as etcd does), else
 * command-line flags, else ETCD_* environment variables, else defaults.
 */
import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { FLAGS, FLAGS_BY_NAME, FlagError, FlagSpec, checkFlagValue, parseArgs, parseBool, parseDurationMs } from './flags';

export interface MemberConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly walDir: string;
  readonly snapshotCount: number;
  /** Entries kept in the log after a snapshot, for followers a little behind (etcd 3.5's flag). */
  readonly snapshotCatchUpEntries: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly initialElectionTickAdvance: boolean;
  readonly listenPeerUrls: readonly URL[];
  readonly listenClientUrls: readonly URL[];
  readonly listenMetricsUrls: readonly URL[];
  readonly advertiseClientUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  /** name → peer URLs, in the order given. */
  readonly initialCluster: ReadonlyMap<string, readonly string[]>;
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly quotaBackendBytes: number;
  readonly maxTxnOps: number;
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly strictReconfigCheck: boolean;
  readonly preVote: boolean;
  readonly autoCompactionMode: 'periodic' | 'revision';
  readonly autoCompactionRetention: string;
  readonly compactionBatchLimit: number;
  readonly watchProgressNotifyIntervalMs: number;
  readonly enableLeaseCheckpoint: boolean;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly authToken: string;
  readonly bcryptCost: number;
  /** Warnings to log once the logger exists (ignored flags, unrecognized variables). */
  readonly warnings: readonly string[];
}

/** etcd's default backend quota when --quota-backend-bytes is 0: 2 GiB. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
/** etcd's ceiling for the quota: 8 GiB. */
export const MAX_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;

export interface LoadedArgs {
  readonly config?: MemberConfig;
  readonly help: boolean;
  readonly version: boolean;
}

/** Builds the configuration. @throws FlagError with a message that says what to fix. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): LoadedArgs {
  const parsed = parseArgs(argv);
  if (parsed.help || parsed.version) return { help: parsed.help, version: parsed.version };
  const warnings: string[] = [];
  const raw = new Map<string, string>();
  const configFile = parsed.values.get('config-file') ?? env.ETCD_CONFIG_FILE;
  if (configFile !== undefined && configFile !== '') {
    readConfigFile(configFile, raw);
    if (parsed.values.size > 1) warnings.push('loaded configuration from --config-file; other command-line flags and environment variables are ignored');
  } else {
    readEnvironment(env, parsed.values, raw, warnings);
    for (const [k, v] of parsed.values) raw.set(k, v);
  }
  return { help: false, version: false, config: build(raw, warnings) };
}

function envName(flag: string): string {
  return 'ETCD_' + flag.toUpperCase().replace(/-/g, '_');
}

function readEnvironment(env: NodeJS.ProcessEnv, flags: ReadonlyMap<string, string>, raw: Map<string, string>, warnings: string[]): void {
  const known = new Map(FLAGS.map((f) => [envName(f.name), f] as const));
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ETCD_') || value === undefined) continue;
    if (key === 'ETCD_CONFIG_FILE') continue;
    const spec = known.get(key);
    if (spec === undefined) {
      // etcdctl's variables share the prefix; only the server's unknown ones deserve a warning.
      if (!key.startsWith('ETCDCTL_')) warnings.push(`unrecognized environment variable ${key}=${value}`);
      continue;
    }
    if (flags.has(spec.name)) {
      throw new FlagError(`conflicting environment variable "${key}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`);
    }
    const problem = checkFlagValue(spec, value);
    if (problem !== undefined) throw new FlagError(`${problem} (from environment variable ${key})`);
    raw.set(spec.name, value);
  }
}

function readConfigFile(file: string, raw: Map<string, string>): void {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FlagError(`cannot read --config-file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new FlagError(`--config-file ${file}: expected a YAML mapping of flag names to values`);
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const spec = FLAGS_BY_NAME.get(key);
    if (spec === undefined) throw new FlagError(`--config-file ${file}: unknown key "${key}" (keys are etcd's flag names, e.g. data-dir)`);
    if (value === null || typeof value === 'object') throw new FlagError(`--config-file ${file}: key "${key}" needs a scalar value`);
    const text = String(value);
    const problem = checkFlagValue(spec, text);
    if (problem !== undefined) throw new FlagError(`--config-file ${file}: ${problem}`);
    raw.set(key, text);
  }
}

function build(raw: ReadonlyMap<string, string>, warnings: string[]): MemberConfig {
  const get = (name: string): string => {
    const spec = FLAGS_BY_NAME.get(name);
    if (spec === undefined) throw new Error(`unknown flag ${name}`);
    return raw.get(name) ?? spec.default;
  };
  for (const [name, value] of raw) {
    const spec = FLAGS_BY_NAME.get(name) as FlagSpec;
    if (value === spec.default) continue;
    if (spec.unsupported !== undefined) throw new FlagError(`--${name}: ${spec.unsupported}`);
    if (spec.ignored !== undefined) warnings.push(`--${name} is accepted but has no effect: ${spec.ignored}`);
  }
  const num = (name: string): number => {
    const n = Number(get(name));
    if (!Number.isSafeInteger(n)) throw new FlagError(`invalid value "${get(name)}" for flag -${name}: value out of range`);
    return n;
  };
  const bool = (name: string): boolean => parseBool(get(name)) as boolean;
  const durationMs = (name: string): number => parseDurationMs(get(name)) as number;

  const name = get('name');
  const dataDir = raw.get('data-dir') ?? `${name}.cairn`;
  const heartbeatIntervalMs = num('heartbeat-interval');
  const electionTimeoutMs = num('election-timeout');
  if (heartbeatIntervalMs <= 0) throw new FlagError('--heartbeat-interval must be greater than 0');
  if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
    throw new FlagError(`--election-timeout[${electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatIntervalMs}ms]`);
  }
  if (electionTimeoutMs > 50000) throw new FlagError(`--election-timeout[${electionTimeoutMs}ms] is too long, and should be set less than 50000ms`);
  const quota = num('quota-backend-bytes');
  if (quota < 0) throw new FlagError('--quota-backend-bytes must not be negative');
  const state = get('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw new FlagError(`invalid value "${state}" for flag -initial-cluster-state: valid values are "new" or "existing"`);
  const mode = get('auto-compaction-mode');
  if (mode !== 'periodic' && mode !== 'revision') throw new FlagError(`invalid value "${mode}" for flag -auto-compaction-mode: valid values are "periodic" or "revision"`);
  const logLevel = bool('debug') ? 'debug' : get('log-level');
  if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(logLevel)) throw new FlagError(`unknown --log-level "${logLevel}": use debug, info, warn, error, panic or fatal`);
  const maxTxnOps = num('max-txn-ops');
  if (maxTxnOps <= 0) throw new FlagError('--max-txn-ops must be greater than 0');
  const maxRequestBytes = num('max-request-bytes');
  if (maxRequestBytes <= 0) throw new FlagError('--max-request-bytes must be greater than 0');
  const initialCluster = parseInitialCluster(get('initial-cluster'));
  const initialAdvertisePeerUrls = parseUrlList('initial-advertise-peer-urls', get('initial-advertise-peer-urls')).map(urlText);

  return {
    name,
    dataDir,
    walDir: get('wal-dir'),
    snapshotCount: num('snapshot-count'),
    snapshotCatchUpEntries: num('experimental-snapshot-catchup-entries'),
    heartbeatIntervalMs,
    electionTimeoutMs,
    initialElectionTickAdvance: bool('initial-election-tick-advance'),
    listenPeerUrls: parseUrlList('listen-peer-urls', get('listen-peer-urls')),
    listenClientUrls: parseUrlList('listen-client-urls', get('listen-client-urls')),
    listenMetricsUrls: get('listen-metrics-urls') === '' ? [] : parseUrlList('listen-metrics-urls', get('listen-metrics-urls')),
    advertiseClientUrls: parseUrlList('advertise-client-urls', get('advertise-client-urls')).map(urlText),
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState: state,
    initialClusterToken: get('initial-cluster-token'),
    quotaBackendBytes: quota === 0 ? DEFAULT_QUOTA_BACKEND_BYTES : Math.min(quota, MAX_QUOTA_BACKEND_BYTES),
    maxTxnOps,
    maxRequestBytes,
    maxConcurrentStreams: num('max-concurrent-streams'),
    strictReconfigCheck: bool('strict-reconfig-check'),
    preVote: bool('pre-vote'),
    autoCompactionMode: mode,
    autoCompactionRetention: get('auto-compaction-retention'),
    compactionBatchLimit: num('experimental-compaction-batch-limit'),
    watchProgressNotifyIntervalMs: durationMs('experimental-watch-progress-notify-interval'),
    enableLeaseCheckpoint: bool('experimental-enable-lease-checkpoint'),
    logLevel: (logLevel === 'panic' ? 'fatal' : logLevel) as MemberConfig['logLevel'],
    authToken: get('auth-token'),
    bcryptCost: num('bcrypt-cost'),
    warnings,
  };
}

function urlText(u: URL): string {
  // URL adds a trailing slash to bare origins; etcd prints URLs as given (scheme://host:port).
  return u.pathname === '/' && u.search === '' ? `${u.protocol}//${u.host}` : u.toString();
}

/** Parses a comma-separated URL list as etcd's types.NewURLs does. @throws FlagError */
export function parseUrlList(flag: string, text: string): URL[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new FlagError(`--${flag}: no URLs given`);
  return parts.map((p) => {
    let u: URL;
    try {
      u = new URL(p);
    } catch {
      throw new FlagError(`--${flag}: "${p}" is not a valid URL (expected scheme://host:port, e.g. http://127.0.0.1:2379)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:' && u.protocol !== 'unix:' && u.protocol !== 'unixs:') {
      throw new FlagError(`--${flag}: URL scheme must be http, https, unix, or unixs: ${p}`);
    }
    if ((u.protocol === 'http:' || u.protocol === 'https:') && u.port === '') throw new FlagError(`--${flag}: URL address does not have the form "host:port": ${p}`);
    if (u.pathname !== '/' && u.pathname !== '') throw new FlagError(`--${flag}: URL must not contain a path: ${p}`);
    return u;
  });
}

/** Parses `name1=url1,name1=url2,name2=url3` into name → URLs. @throws FlagError */
export function parseInitialCluster(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new FlagError(`--initial-cluster: "${item}" is not of the form name=url`);
    const name = item.slice(0, eq);
    const [url] = parseUrlList('initial-cluster', item.slice(eq + 1));
    const list = out.get(name) ?? [];
    list.push(urlText(url!));
    out.set(name, list);
  }
  if (out.size === 0) throw new FlagError('--initial-cluster: no members given');
  return out;
}
