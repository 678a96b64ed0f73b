// The member accepts etcd's flags, ETCD_* variables and YAML config file with etcd's precedence
// and defaults, and refuses mistakes with a message that names the flag.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, DEFAULT_QUOTA_BACKEND_BYTES } from './config';
import { FlagError, parseArgs, parseDurationMs } from './flags';

const cfg = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env).config!;

describe('flags', () => {
  it("takes etcd's defaults, with the data dir named after the member", () => {
    const c = cfg([]);
    expect(c.name).toBe('default');
    expect(c.dataDir).toBe('default.cairn');
    expect(c.snapshotCount).toBe(100000);
    expect(c.heartbeatIntervalMs).toBe(100);
    expect(c.electionTimeoutMs).toBe(1000);
    expect(c.maxTxnOps).toBe(128);
    expect(c.maxRequestBytes).toBe(1572864);
    expect(c.quotaBackendBytes).toBe(DEFAULT_QUOTA_BACKEND_BYTES);
    expect(c.listenClientUrls.map((u) => u.host)).toEqual(['localhost:2379']);
    expect(c.initialCluster.get('default')).toEqual(['http://localhost:2380']);
    expect(c.initialClusterState).toBe('new');
    expect(cfg(['--name', 'infra1']).dataDir).toBe('infra1.cairn');
  });

  it('parses Go flag forms: -flag v, --flag v, --flag=v, bare booleans and bool=false', () => {
    const c = cfg(['-name', 'a', '--max-txn-ops', '7', '--max-request-bytes=99', '--strict-reconfig-check=false', '--pre-vote']);
    expect(c.name).toBe('a');
    expect(c.maxTxnOps).toBe(7);
    expect(c.maxRequestBytes).toBe(99);
    expect(c.strictReconfigCheck).toBe(false);
    expect(c.preVote).toBe(true);
  });

  it('names an unknown flag, a malformed value, a missing value and a stray argument', () => {
    expect(() => parseArgs(['--foo'])).toThrow('flag provided but not defined: -foo');
    expect(() => parseArgs(['--max-txn-ops=abc'])).toThrow('invalid value "abc" for flag -max-txn-ops: parse error');
    expect(() => parseArgs(['--name'])).toThrow('flag needs an argument: -name');
    expect(() => parseArgs(['extra'])).toThrow("'extra' is not a valid flag");
    expect(() => parseArgs(['--pre-vote=maybe'])).toThrow(FlagError);
  });

  it('checks values: election timeout vs heartbeat, URLs, cluster state, initial cluster', () => {
    expect(() => cfg(['--heartbeat-interval', '300'])).toThrow('should be at least as 5 times as --heartbeat-interval');
    expect(() => cfg(['--listen-client-urls', 'localhost:2379'])).toThrow(/listen-client-urls/);
    expect(() => cfg(['--listen-client-urls', 'http://127.0.0.1'])).toThrow(/host:port/);
    expect(() => cfg(['--initial-cluster-state', 'old'])).toThrow(/"new" or "existing"/);
    expect(() => cfg(['--initial-cluster', 'nourl'])).toThrow(/name=url/);
  });

  it('refuses flags for features it does not have rather than ignoring them silently', () => {
    expect(() => cfg(['--cert-file', '/x.pem'])).toThrow(/TLS/);
    expect(() => cfg(['--enable-v2'])).toThrow(/v2/);
    const c = cfg(['--enable-pprof']);
    expect(c.warnings.join('\n')).toMatch(/enable-pprof/);
  });

  it('parses Go durations', () => {
    expect(parseDurationMs('10m')).toBe(600000);
    expect(parseDurationMs('1h30m')).toBe(5400000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('0')).toBe(0);
    expect(parseDurationMs('5 s')).toBeUndefined();
    expect(parseDurationMs('')).toBeUndefined();
  });
});

describe('environment variables', () => {
  it('are read as ETCD_<FLAG> and checked like flags', () => {
    expect(cfg([], { ETCD_NAME: 'e1', ETCD_MAX_TXN_OPS: '9' }).name).toBe('e1');
    expect(cfg([], { ETCD_MAX_TXN_OPS: '9' }).maxTxnOps).toBe(9);
    expect(() => cfg([], { ETCD_MAX_TXN_OPS: 'x' })).toThrow(/ETCD_MAX_TXN_OPS/);
  });

  it('conflicting with a flag is an error, as in etcd; unknown ones are warned about', () => {
    expect(() => cfg(['--name', 'a'], { ETCD_NAME: 'b' })).toThrow('conflicting environment variable "ETCD_NAME" is shadowed');
    expect(cfg([], { ETCD_FOO: '1' }).warnings).toContain('unrecognized environment variable ETCD_FOO=1');
  });
});

describe('config file', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-cfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes flag names as keys and wins over flags and environment', () => {
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, 'name: fromfile\nmax-txn-ops: 64\nstrict-reconfig-check: false\n');
    const c = cfg(['--config-file', file, '--name', 'ignored'], { ETCD_MAX_TXN_OPS: '1' });
    expect(c.name).toBe('fromfile');
    expect(c.maxTxnOps).toBe(64);
    expect(c.strictReconfigCheck).toBe(false);
  });

  it('names an unknown key, a bad value, and an unreadable file', () => {
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, 'nmae: x\n');
    expect(() => cfg(['--config-file', file])).toThrow('unknown key "nmae"');
    fs.writeFileSync(file, 'max-txn-ops: lots\n');
    expect(() => cfg(['--config-file', file])).toThrow('invalid value "lots" for flag -max-txn-ops');
    expect(() => cfg(['--config-file', path.join(dir, 'missing.yaml')])).toThrow(/cannot read --config-file/);
  });
});
