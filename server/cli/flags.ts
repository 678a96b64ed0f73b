/**
 * etcd's command-line flags: names, kinds and defaults, and a parser with the semantics of Go's
 * `flag` package as etcd uses it (`-name v`, `--name v`, `--name=v`; booleans take `--flag` or
 * `--flag=false`; the first non-flag argument ends parsing). A hand-written parser rather than
 * commander, because scripts written for etcd rely on exactly these semantics.
 */

export type FlagKind = 'string' | 'uint' | 'int' | 'bool' | 'duration' | 'float';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default: string;
  readonly help: string;
  /** Accepted for compatibility but has no effect in Cairn; a warning is logged when set. */
  readonly ignored?: string;
  /** Accepted, but Cairn refuses to start when it is set to a non-default value. */
  readonly unsupported?: string;
}

const NOT_YET = 'not supported by this version of Cairn';

export const FLAGS: readonly FlagSpec[] = [
  // Member
  { name: 'name', kind: 'string', default: 'default', help: 'Human-readable name for this member.' },
  { name: 'data-dir', kind: 'string', default: '${name}.cairn', help: 'Path to the data directory.' },
  { name: 'wal-dir', kind: 'string', default: '', help: 'Path to the dedicated wal directory.' },
  { name: 'snapshot-count', kind: 'uint', default: '100000', help: 'Number of committed transactions to trigger a snapshot to disk.' },
  { name: 'experimental-snapshot-catchup-entries', kind: 'uint', default: '5000', help: 'Number of entries for a slow follower to catch up after compacting the raft storage entries.' },
  { name: 'heartbeat-interval', kind: 'uint', default: '100', help: 'Time (in milliseconds) of a heartbeat interval.' },
  { name: 'election-timeout', kind: 'uint', default: '1000', help: 'Time (in milliseconds) for an election to timeout.' },
  { name: 'initial-election-tick-advance', kind: 'bool', default: 'true', help: 'Whether to fast-forward initial election ticks on boot for faster election.' },
  { name: 'listen-peer-urls', kind: 'string', default: 'http://localhost:2380', help: 'List of URLs to listen on for peer traffic.' },
  { name: 'listen-client-urls', kind: 'string', default: 'http://localhost:2379', help: 'List of URLs to listen on for client traffic.' },
  { name: 'listen-metrics-urls', kind: 'string', default: '', help: 'List of URLs to listen on for the metrics and health endpoints.' },
  { name: 'max-snapshots', kind: 'uint', default: '5', help: 'Maximum number of snapshot files to retain (0 is unlimited).' },
  { name: 'max-wals', kind: 'uint', default: '5', help: 'Maximum number of wal files to retain (0 is unlimited).' },
  { name: 'quota-backend-bytes', kind: 'int', default: '0', help: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).' },
  { name: 'backend-batch-interval', kind: 'duration', default: '0s', help: 'BackendBatchInterval is the maximum time before commit the backend transaction.', ignored: 'Cairn writes one backend batch per Raft Ready' },
  { name: 'backend-batch-limit', kind: 'uint', default: '0', help: 'BackendBatchLimit is the maximum operations before commit the backend transaction.', ignored: 'Cairn writes one backend batch per Raft Ready' },
  { name: 'max-txn-ops', kind: 'uint', default: '128', help: 'Maximum number of operations permitted in a transaction.' },
  { name: 'max-request-bytes', kind: 'uint', default: '1572864', help: 'Maximum client request size in bytes the server will accept.' },
  { name: 'max-concurrent-streams', kind: 'uint', default: '4294967295', help: 'Maximum concurrent streams that each client can open at a time.' },
  { name: 'grpc-keepalive-min-time', kind: 'duration', default: '5s', help: 'Minimum interval duration that a client should wait before pinging server.' },
  { name: 'grpc-keepalive-interval', kind: 'duration', default: '2h', help: 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).' },
  { name: 'grpc-keepalive-timeout', kind: 'duration', default: '20s', help: 'Additional duration of wait before closing a non-responsive connection (0 to disable).' },
  // Clustering
  { name: 'initial-advertise-peer-urls', kind: 'string', default: 'http://localhost:2380', help: "List of this member's peer URLs to advertise to the rest of the cluster." },
  { name: 'initial-cluster', kind: 'string', default: 'default=http://localhost:2380', help: 'Initial cluster configuration for bootstrapping.' },
  { name: 'initial-cluster-state', kind: 'string', default: 'new', help: "Initial cluster state ('new' or 'existing')." },
  { name: 'initial-cluster-token', kind: 'string', default: 'etcd-cluster', help: 'Initial cluster token for the etcd cluster during bootstrap.' },
  { name: 'advertise-client-urls', kind: 'string', default: 'http://localhost:2379', help: "List of this member's client URLs to advertise to the public." },
  { name: 'discovery', kind: 'string', default: '', help: 'Discovery URL used to bootstrap the cluster.', unsupported: 'discovery services are not supported; use --initial-cluster' },
  { name: 'discovery-fallback', kind: 'string', default: 'proxy', help: 'Expected behavior when discovery services fails.', ignored: 'discovery is not supported' },
  { name: 'discovery-proxy', kind: 'string', default: '', help: 'HTTP proxy to use for traffic to discovery service.', unsupported: 'discovery services are not supported; use --initial-cluster' },
  { name: 'discovery-srv', kind: 'string', default: '', help: 'DNS srv domain used to bootstrap the cluster.', unsupported: 'DNS discovery is not supported; use --initial-cluster' },
  { name: 'discovery-srv-name', kind: 'string', default: '', help: 'Suffix to the dns srv name queried when bootstrapping.', unsupported: 'DNS discovery is not supported; use --initial-cluster' },
  { name: 'strict-reconfig-check', kind: 'bool', default: 'true', help: 'Reject reconfiguration requests that would cause quorum loss.' },
  { name: 'pre-vote', kind: 'bool', default: 'false', help: 'Enable to run an additional Raft election phase.' },
  { name: 'auto-compaction-retention', kind: 'string', default: '0', help: 'Auto compaction retention length. 0 means disable auto compaction.' },
  { name: 'auto-compaction-mode', kind: 'string', default: 'periodic', help: "Interpret 'auto-compaction-retention' one of: periodic|revision." },
  { name: 'enable-v2', kind: 'bool', default: 'false', help: 'Accept etcd V2 client requests.', unsupported: 'the v2 API is not supported' },
  // Security
  { name: 'cert-file', kind: 'string', default: '', help: 'Path to the client server TLS cert file.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'key-file', kind: 'string', default: '', help: 'Path to the client server TLS key file.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'client-cert-auth', kind: 'bool', default: 'false', help: 'Enable client cert authentication.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'client-crl-file', kind: 'string', default: '', help: 'Path to the client certificate revocation list file.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'client-cert-allowed-hostname', kind: 'string', default: '', help: 'Allowed TLS hostname for client cert authentication.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'trusted-ca-file', kind: 'string', default: '', help: 'Path to the client server TLS trusted CA cert file.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'auto-tls', kind: 'bool', default: 'false', help: 'Client TLS using generated certificates.', unsupported: `client TLS is ${NOT_YET}` },
  { name: 'peer-cert-file', kind: 'string', default: '', help: 'Path to the peer server TLS cert file.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-key-file', kind: 'string', default: '', help: 'Path to the peer server TLS key file.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-client-cert-auth', kind: 'bool', default: 'false', help: 'Enable peer client cert authentication.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-trusted-ca-file', kind: 'string', default: '', help: 'Path to the peer server TLS trusted CA file.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-cert-allowed-cn', kind: 'string', default: '', help: 'Allowed CN for inter peer authentication.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-cert-allowed-hostname', kind: 'string', default: '', help: 'Allowed TLS hostname for inter peer authentication.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-auto-tls', kind: 'bool', default: 'false', help: 'Peer TLS using self-generated certificates.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'peer-crl-file', kind: 'string', default: '', help: 'Path to the peer certificate revocation list file.', unsupported: `peer TLS is ${NOT_YET}` },
  { name: 'cipher-suites', kind: 'string', default: '', help: 'Comma-separated list of supported TLS cipher suites.', unsupported: `TLS is ${NOT_YET}` },
  { name: 'cors', kind: 'string', default: '*', help: 'Comma-separated white list of origins for CORS.', ignored: 'CORS applies to the JSON gateway, not served yet' },
  { name: 'host-whitelist', kind: 'string', default: '*', help: 'Comma-separated acceptable hostnames from HTTP client requests.', ignored: 'applies to insecure HTTP hosts checks, not done yet' },
  // Auth
  { name: 'auth-token', kind: 'string', default: 'simple', help: 'Specify auth token specific options.' },
  { name: 'bcrypt-cost', kind: 'uint', default: '10', help: 'Specify bcrypt algorithm cost factor for auth password hashing.' },
  { name: 'auth-token-ttl', kind: 'uint', default: '300', help: 'The lifetime in seconds of the auth token.' },
  // Profiling, monitoring and logging
  { name: 'enable-pprof', kind: 'bool', default: 'false', help: 'Enable runtime profiling data via HTTP server.', ignored: 'Go profiling has no Node equivalent; use node --cpu-prof' },
  { name: 'metrics', kind: 'string', default: 'basic', help: "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics." },
  { name: 'logger', kind: 'string', default: 'zap', help: "Specify 'zap' for structured logging or 'capnslog'. Cairn always logs JSON lines." },
  { name: 'log-outputs', kind: 'string', default: 'default', help: "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd." },
  { name: 'log-level', kind: 'string', default: 'info', help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.' },
  { name: 'debug', kind: 'bool', default: 'false', help: 'Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use --log-level=debug instead.' },
  { name: 'log-package-levels', kind: 'string', default: '', help: 'Specify a particular log level for each etcd package.', ignored: 'capnslog package levels do not apply' },
  // v2 proxy
  { name: 'proxy', kind: 'string', default: 'off', help: "Proxy mode setting ('off', 'readonly' or 'on').", unsupported: 'the v2 proxy is not supported' },
  { name: 'proxy-failure-wait', kind: 'uint', default: '5000', help: 'Time (in milliseconds) an endpoint will be held in a failed state.', ignored: 'the v2 proxy is not supported' },
  { name: 'proxy-refresh-interval', kind: 'uint', default: '30000', help: 'Time (in milliseconds) of the endpoints refresh interval.', ignored: 'the v2 proxy is not supported' },
  { name: 'proxy-dial-timeout', kind: 'uint', default: '1000', help: 'Time (in milliseconds) for a dial to timeout.', ignored: 'the v2 proxy is not supported' },
  { name: 'proxy-write-timeout', kind: 'uint', default: '5000', help: 'Time (in milliseconds) for a write to timeout.', ignored: 'the v2 proxy is not supported' },
  { name: 'proxy-read-timeout', kind: 'uint', default: '0', help: 'Time (in milliseconds) for a read to timeout.', ignored: 'the v2 proxy is not supported' },
  // Experimental
  { name: 'experimental-initial-corrupt-check', kind: 'bool', default: 'false', help: 'Enable to check data corruption before serving any client/peer traffic.', ignored: 'not implemented yet' },
  { name: 'experimental-corrupt-check-time', kind: 'duration', default: '0s', help: 'Duration of time between cluster corruption check passes.', ignored: 'not implemented yet' },
  { name: 'experimental-enable-v2v3', kind: 'string', default: '', help: 'v3 prefix for serving emulated v2 state.', unsupported: 'the v2 API is not supported' },
  { name: 'experimental-backend-bbolt-freelist-type', kind: 'string', default: 'array', help: 'ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses.', ignored: 'Cairn has no bbolt backend' },
  { name: 'experimental-enable-lease-checkpoint', kind: 'bool', default: 'false', help: 'Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases.' },
  { name: 'experimental-compaction-batch-limit', kind: 'uint', default: '1000', help: 'Sets the maximum revisions deleted in each compaction batch.' },
  { name: 'experimental-peer-skip-client-san-verification', kind: 'bool', default: 'false', help: 'Skip verification of SAN field in client certificate for peer connections.', ignored: 'peer TLS is not supported yet' },
  { name: 'experimental-watch-progress-notify-interval', kind: 'duration', default: '10m', help: 'Duration of periodic watch progress notifications.' },
  { name: 'experimental-warning-apply-duration', kind: 'duration', default: '100ms', help: 'Time duration after which a warning is generated if request takes more time.' },
  { name: 'unsafe-no-fsync', kind: 'bool', default: 'false', help: 'Disables fsync, unsafe, will cause data loss.', unsupported: 'Cairn always fsyncs its write-ahead log' },
  { name: 'force-new-cluster', kind: 'bool', default: 'false', help: 'Force to create a new one member cluster.', unsupported: `--force-new-cluster is ${NOT_YET}` },
  { name: 'config-file', kind: 'string', default: '', help: 'Path to the server configuration file (YAML, with the flag names as keys).' },
];

export const FLAGS_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));

/** A command-line mistake: the message says what to fix. */
export class FlagError extends Error {
  override readonly name = 'FlagError';
}

export interface ParsedArgs {
  /** Flags given on the command line, by name, as raw strings (validated by kind). */
  readonly values: Map<string, string>;
  readonly help: boolean;
  readonly version: boolean;
}

const DURATION_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Parses a Go duration ("1h30m", "500ms", "0") into milliseconds. Returns undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let totalNs = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) return undefined;
    totalNs += Number(m[1]) * DURATION_UNITS_NS[m[2]!]!;
    pos = re.lastIndex;
  }
  return text.length === 0 ? undefined : totalNs / 1e6;
}

/** Checks that `value` is well-formed for the flag's kind; returns an error text or undefined. */
export function checkFlagValue(spec: FlagSpec, value: string): string | undefined {
  const bad = `invalid value "${value}" for flag -${spec.name}: parse error`;
  switch (spec.kind) {
    case 'uint':
      return /^\d+$/.test(value) ? undefined : bad;
    case 'int':
      return /^-?\d+$/.test(value) ? undefined : bad;
    case 'float':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? undefined : bad;
    case 'bool':
      return parseBool(value) === undefined ? bad : undefined;
    case 'duration':
      return parseDurationMs(value) === undefined ? bad : undefined;
    case 'string':
      return undefined;
  }
}

/** Go's strconv.ParseBool. */
export function parseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** Parses argv (without the node and script paths) with Go flag semantics. @throws FlagError */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values = new Map<string, string>();
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new FlagError(`'${argv[i + 1]}' is not a valid flag. See 'cairn --help'.`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      throw new FlagError(`'${arg}' is not a valid flag. See 'cairn --help'.`);
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    if (name === 'h' || name === 'help') {
      help = true;
      continue;
    }
    if (name === 'version') {
      version = true;
      continue;
    }
    const spec = FLAGS_BY_NAME.get(name);
    if (spec === undefined) throw new FlagError(`flag provided but not defined: -${name}. See 'cairn --help'.`);
    let value: string;
    if (eq !== -1) {
      value = body.slice(eq + 1);
    } else if (spec.kind === 'bool') {
      value = 'true';
    } else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    const problem = checkFlagValue(spec, value);
    if (problem !== undefined) throw new FlagError(problem);
    values.set(name, value);
  }
  return { values, help, version };
}

/** The text printed by `cairn --help`. */
export function usage(): string {
  const lines = ['Usage:', '', '  cairn [flags]', '    Start a Cairn member (etcd-compatible flags and ETCD_* environment variables).', '', 'Flags:'];
  for (const f of FLAGS) {
    lines.push(`  --${f.name} '${f.default}'`, `      ${f.help}${f.ignored ? ` (accepted, no effect: ${f.ignored})` : ''}${f.unsupported ? ` (${f.unsupported})` : ''}`);
  }
  lines.push('  --version', '      Print the version and exit.', '  -h, --help', '      Show this help.');
  return lines.join('\n') + '\n';
}
