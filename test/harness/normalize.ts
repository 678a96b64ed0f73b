/**
 * Normalizes etcdctl output where two correct servers legitimately differ, so that the rest can be
 * compared exactly.
 *
 * Always replaced: cluster and member IDs (decimal and hex, including `leader`), raft terms (a zero
 * ID or term, as in the nested headers of a txn response, stays: it is not a legitimate difference), the
 * member's client and peer URLs, database sizes, durations (`took`), and the timestamp and random
 * client id in etcdctl's retry warnings. Replaced when asked: server versions, raft indexes, KV hashes,
 * and revisions (rewritten relative to a base revision as `R+k`, so that one test case is compared
 * by what it did, not by what earlier cases did).
 *
 * Everything works on text with field-keyed patterns rather than by parsing JSON: IDs use all 64
 * bits and would lose precision as JS numbers.
 */

export interface Identity {
  /** Member ID in decimal, as in a response header. */
  memberId?: string;
  /** Cluster ID in decimal. */
  clusterId?: string;
}

export interface NormalizeContext {
  /** The member's client URL, http://127.0.0.1:<port>. */
  endpoint: string;
  /** The member's peer URL. */
  peerUrl?: string;
  identity?: Identity;
  /** When set, revisions are printed relative to it: `R+2`, `R-1`; 0 stays 0 ("none"). */
  revisionBase?: number;
}

export interface NormalizeOptions {
  /** Replace the server version (`3.4.23`) in endpoint status. Default false. */
  version?: boolean;
  /** Replace raft index and raft applied index in endpoint status. Default false. */
  raftIndex?: boolean;
  /** Replace the KV hash of endpoint hashkv. Default false. */
  hash?: boolean;
  /** Replace database sizes. Default true. */
  dbSize?: boolean;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function replaceWord(text: string, word: string, replacement: string): string {
  if (word === '') return text;
  return text.replace(new RegExp(`(?<![0-9A-Za-z])${escapeRegExp(word)}(?![0-9A-Za-z])`, 'g'), replacement);
}

function relative(value: string, base: number | undefined): string {
  if (base === undefined) return value;
  const revision = Number(value);
  if (revision === 0) return '0';
  const delta = revision - base;
  return `R${delta >= 0 ? '+' : ''}${delta}`;
}

/** `host:port` of an http URL, or undefined. */
function hostPort(url: string): string | undefined {
  const match = /^https?:\/\/(.+)$/.exec(url);
  return match?.[1];
}

function normalizeUrls(text: string, ctx: NormalizeContext): string {
  let out = text.split(ctx.endpoint).join('<client-url>');
  if (ctx.peerUrl !== undefined) out = out.split(ctx.peerUrl).join('<peer-url>');
  const clientAddr = hostPort(ctx.endpoint);
  if (clientAddr !== undefined) out = out.split(clientAddr).join('<client-addr>');
  const peerAddr = ctx.peerUrl === undefined ? undefined : hostPort(ctx.peerUrl);
  if (peerAddr !== undefined) out = out.split(peerAddr).join('<peer-addr>');
  return out;
}

function normalizeIds(text: string, identity: Identity | undefined): string {
  let out = text
    .replace(/"(cluster_id|member_id|leader|ID)":[1-9]\d*/g, '"$1":"<id>"')
    .replace(/"(ClusterID|MemberID|Leader|ID)" : [1-9]\d*/g, '"$1" : <id>');
  for (const [id, label] of [
    [identity?.memberId, 'member-id'],
    [identity?.clusterId, 'cluster-id'],
  ] as const) {
    if (id === undefined || !/^\d+$/.test(id)) continue;
    out = replaceWord(out, id, `<${label}>`);
    out = replaceWord(out, BigInt(id).toString(16), `<${label}-hex>`);
  }
  return out;
}

function normalizeRevisions(text: string, base: number | undefined): string {
  if (base === undefined) return text;
  return text
    .replace(/"(revision|create_revision|mod_revision|compact_revision)":(\d+)/g, (_m, key: string, v: string) => `"${key}":${v === '0' ? '0' : `"${relative(v, base)}"`}`)
    .replace(/"(Revision|CreateRevision|ModRevision|CompactRevision)" : (\d+)/g, (_m, key: string, v: string) => `"${key}" : ${relative(v, base)}`)
    .replace(/compacted revision (\d+)/g, (_m, v: string) => `compacted revision ${relative(v, base)}`);
}

/** One line of `endpoint status -w simple`: url, id, version, db size, leader, learner, term, index, applied, errors. */
const statusLine = /^(<client-url>|\S+), (\S+), (\S+), (\d+(?:\.\d+)? [kMGT]?B), (true|false), (true|false), (\d+), (\d+), (\d+), (.*)$/gm;

function normalizeStatusLines(text: string, options: NormalizeOptions): string {
  return text.replace(statusLine, (_m, url: string, id: string, version: string, size: string, leader: string, learner: string, _term: string, index: string, applied: string, errors: string) =>
    [
      url,
      id,
      options.version ? '<version>' : version,
      options.dbSize === false ? size : '<db-size>',
      leader,
      learner,
      '<raft-term>',
      options.raftIndex ? '<raft-index>' : index,
      options.raftIndex ? '<raft-applied-index>' : applied,
      errors,
    ].join(', '),
  );
}

/** Normalizes one output (stdout or stderr) of etcdctl run against the member described by `ctx`. */
export function normalizeOutput(text: string, ctx: NormalizeContext, options: NormalizeOptions = {}): string {
  let out = normalizeUrls(text, ctx);
  out = normalizeIds(out, ctx.identity);
  out = normalizeRevisions(out, ctx.revisionBase);
  out = out
    .replace(/"(raft_term|raftTerm)":[1-9]\d*/g, '"$1":"<raft-term>"')
    .replace(/"RaftTerm" : [1-9]\d*/g, '"RaftTerm" : <raft-term>')
    .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
    .replace(/client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'client-<uuid>')
    .replace(/"took":"[^"]*"/g, '"took":"<took>"')
    .replace(/"Took" : .*$/gm, '"Took" : <took>')
    .replace(/took = \S+/g, 'took = <took>');
  if (options.dbSize !== false) {
    out = out.replace(/"(dbSize|dbSizeInUse)":\d+/g, '"$1":"<db-size>"').replace(/"DBSize" : \d+/g, '"DBSize" : <db-size>');
  }
  if (options.version) {
    out = out.replace(/"version":"[^"]*"/g, '"version":"<version>"').replace(/"Version" : "[^"]*"/g, '"Version" : "<version>"');
  }
  if (options.raftIndex) {
    out = out
      .replace(/"(raftIndex|raftAppliedIndex)":\d+/g, '"$1":"<raft-index>"')
      .replace(/"(RaftIndex|RaftAppliedIndex)" : \d+/g, '"$1" : <raft-index>');
  }
  if (options.hash) {
    out = out
      .replace(/"hash":\d+/g, '"hash":"<hash>"')
      .replace(/"Hash" : \d+/g, '"Hash" : <hash>')
      .replace(/^(<client-url>|\S+), \d+$/gm, '$1, <hash>');
  }
  return normalizeStatusLines(out, options);
}
