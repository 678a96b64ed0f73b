/**
 * The in-memory key index: for every key, its generations of revisions, as etcd's keyIndex.
 *
 * A generation runs from a key's creation to its deletion: the revisions of its puts, then the
 * tombstone's revision. A key's generations are ordered; all but the last end with a tombstone; the
 * last is either live (it ends with a put) or empty (the key is deleted now). Each generation knows
 * its created revision (its first put's main revision, kept when compaction trims older revisions)
 * and its version count (the version of its newest revision).
 *
 * Keys are the key bytes as a latin1 string, so that string order is byte order. Memory matters, so
 * an entry takes the smallest of three forms:
 *  - a number `m`: one live generation holding the single revision {m, 0}, created at m, version 1
 *    (a key written once, the common case after a bulk load);
 *  - a `SingleRevision`: one live generation holding one revision (what compaction leaves of a key
 *    updated many times);
 *  - a flat number array of generations, each `[created, ver, count, main0, sub0, main1, sub1, ...]`,
 *    an empty generation being `[0, 0, 0]`.
 */
import assert from 'node:assert';
import BTree from 'sorted-btree';
import { RevisionSet } from './revision-set';

/** What the index knows about a key at a revision. Objects passed to callbacks are reused. */
export interface IndexHit {
  /** The revision of the key's newest change at or before the revision asked for. */
  modMain: number;
  modSub: number;
  /** The main revision of the put that created this generation of the key. */
  createRevision: number;
  /** The key's version at modMain/modSub (1 = created). */
  version: number;
}

/** One live generation holding one revision. */
class SingleRevision {
  constructor(
    readonly main: number,
    readonly sub: number,
    readonly created: number,
    readonly ver: number,
  ) {}
}

type Entry = number | SingleRevision | number[];

const GEN_HEADER = 3;
const GEN_CREATED = 0;
const GEN_VER = 1;
const GEN_COUNT = 2;

/** Upper bound of all latin1 keys: compares greater than any string of chars ≤ 0xff. */
const KEY_SPACE_END = '\uffff';
/** The range end that means "every key ≥ key" (etcd: range_end = [0x00]). */
const RANGE_END_ALL = '\x00';

function nextGen(a: number[], o: number): number {
  return o + GEN_HEADER + 2 * a[o + GEN_COUNT];
}

function isLastGen(a: number[], o: number): boolean {
  return nextGen(a, o) === a.length;
}

function lastGenOffset(a: number[]): number {
  let o = 0;
  for (let n = nextGen(a, o); n < a.length; n = nextGen(a, o)) o = n;
  return o;
}

/** The newest (main, sub) an entry holds, for the "revisions only grow" assertion. */
function assertNewer(e: Entry, main: number, sub: number, key: string): void {
  let lastMain: number;
  let lastSub: number;
  if (typeof e === 'number') {
    lastMain = e;
    lastSub = 0;
  } else if (e instanceof SingleRevision) {
    lastMain = e.main;
    lastSub = e.sub;
  } else {
    let end = e.length;
    if (e[lastGenOffset(e) + GEN_COUNT] === 0) end -= GEN_HEADER;
    lastMain = e[end - 2];
    lastSub = e[end - 1];
  }
  assert(
    main > lastMain || (main === lastMain && sub > lastSub),
    `key index: revision ${main}.${sub} of ${JSON.stringify(key)} is not after ${lastMain}.${lastSub}`,
  );
}

/** The entry for a key whose only generation is live with one revision. */
function singleEntry(main: number, sub: number, created: number, ver: number): Entry {
  return sub === 0 && created === main && ver === 1 ? main : new SingleRevision(main, sub, created, ver);
}

/**
 * Writes into `hit` what `e` says about its key at `atRev`; false when the key does not exist at
 * atRev (not yet created, or deleted).
 */
function lookup(e: Entry, atRev: number, hit: IndexHit): boolean {
  if (typeof e === 'number') {
    if (e > atRev) return false;
    hit.modMain = e;
    hit.modSub = 0;
    hit.createRevision = e;
    hit.version = 1;
    return true;
  }
  if (e instanceof SingleRevision) {
    if (e.main > atRev) return false;
    hit.modMain = e.main;
    hit.modSub = e.sub;
    hit.createRevision = e.created;
    hit.version = e.ver;
    return true;
  }
  // Find the generation alive at atRev: started at or before it, not ended by a tombstone ≤ atRev.
  for (let o = 0; o < e.length; o = nextGen(e, o)) {
    const count = e[o + GEN_COUNT];
    if (count === 0) return false; // the trailing empty generation: deleted
    if (e[o + GEN_HEADER] > atRev) return false; // generations after this one start later still
    const last = isLastGen(e, o);
    const lastRevAt = o + GEN_HEADER + 2 * (count - 1);
    if (!last && e[lastRevAt] <= atRev) continue; // deleted by its tombstone at or before atRev
    for (let i = count - 1; i >= 0; i--) {
      const at = o + GEN_HEADER + 2 * i;
      if (e[at] <= atRev) {
        hit.modMain = e[at];
        hit.modSub = e[at + 1];
        hit.createRevision = e[o + GEN_CREATED];
        hit.version = e[o + GEN_VER] - (count - 1 - i);
        return true;
      }
    }
    assert.fail('key index: generation walk found no revision');
  }
  return false;
}

/**
 * etcd's keyIndex compaction of one entry at `atRev`: drops the generations deleted at or before
 * atRev; in the first remaining generation keeps the newest revision ≤ atRev (added to `keep`) and
 * drops the older ones. Returns the compacted entry, or undefined when nothing of the key remains.
 * With `mutate` false it only fills `keep` (etcd's keep(), for hashKV) and returns `e`.
 */
function compactEntry(e: Entry, atRev: number, keep: RevisionSet | undefined, mutate: boolean): Entry | undefined {
  if (typeof e === 'number') {
    if (e <= atRev) keep?.add(e, 0);
    return e;
  }
  if (e instanceof SingleRevision) {
    if (e.main <= atRev) keep?.add(e.main, e.sub);
    return e;
  }
  let o = 0;
  while (!isLastGen(e, o)) {
    const tombstoneMain = e[o + GEN_HEADER + 2 * (e[o + GEN_COUNT] - 1)];
    if (tombstoneMain > atRev) break;
    o = nextGen(e, o);
  }
  const count = e[o + GEN_COUNT];
  let firstKept = 0;
  for (let i = count - 1; i >= 0; i--) {
    const at = o + GEN_HEADER + 2 * i;
    if (e[at] <= atRev) {
      // Never the tombstone: a generation ended at or before atRev was skipped above.
      keep?.add(e[at], e[at + 1]);
      firstKept = i;
      break;
    }
  }
  if (!mutate) return e;
  if (o === 0 && firstKept === 0) return normalize(e);
  const from = o + GEN_HEADER + 2 * firstKept;
  // Sized exactly (no growth slack): compaction is when memory is given back.
  const out = new Array<number>(GEN_HEADER + e.length - from);
  out[GEN_CREATED] = e[o + GEN_CREATED];
  out[GEN_VER] = e[o + GEN_VER];
  out[GEN_COUNT] = count - firstKept;
  for (let i = from; i < e.length; i++) out[GEN_HEADER + i - from] = e[i];
  return normalize(out);
}

/** The smallest form of a flat entry; undefined when it holds only an empty generation. */
function normalize(a: number[]): Entry | undefined {
  if (a.length === GEN_HEADER) {
    assert(a[GEN_COUNT] === 0, 'key index: malformed entry');
    return undefined;
  }
  if (a.length === GEN_HEADER + 2) {
    return singleEntry(a[GEN_HEADER], a[GEN_HEADER + 1], a[GEN_CREATED], a[GEN_VER]);
  }
  return a;
}

/** The in-memory index from keys to their revisions. Not thread-safe; one owner. */
export class KeyIndex {
  private readonly tree: BTree<string, Entry>;
  private readonly scratch: IndexHit = { modMain: 0, modSub: 0, createRevision: 0, version: 0 };

  constructor(options: { maxNodeSize?: number } = {}) {
    this.tree = new BTree<string, Entry>(undefined, undefined, options.maxNodeSize ?? 128);
  }

  /** Number of keys with at least one revision in the index (live or not). */
  get size(): number {
    return this.tree.size;
  }

  /** Records a put of `key` at revision (main, sub): a new generation if the key is not live. */
  put(key: string, main: number, sub: number): void {
    const e = this.tree.get(key);
    if (e === undefined) {
      this.tree.set(key, singleEntry(main, sub, main, 1));
      return;
    }
    assertNewer(e, main, sub, key);
    if (typeof e === 'number') {
      this.tree.set(key, [e, 2, 2, e, 0, main, sub]); // a literal of its final size: no growth slack
      return;
    }
    if (e instanceof SingleRevision) {
      this.tree.set(key, [e.created, e.ver + 1, 2, e.main, e.sub, main, sub]);
      return;
    }
    const o = lastGenOffset(e);
    if (e[o + GEN_COUNT] === 0) {
      e[o + GEN_CREATED] = main;
      e[o + GEN_VER] = 1;
      e[o + GEN_COUNT] = 1;
    } else {
      e[o + GEN_VER] += 1;
      e[o + GEN_COUNT] += 1;
    }
    e.push(main, sub);
  }

  /**
   * Records a put during rebuild from the backend: a key that is not live starts a generation with
   * the createRevision and version stored with the value (older revisions may have been compacted).
   */
  restorePut(key: string, main: number, sub: number, createRevision: number, version: number): void {
    const e = this.tree.get(key);
    if (e === undefined) {
      this.tree.set(key, singleEntry(main, sub, createRevision, version));
      return;
    }
    assertNewer(e, main, sub, key);
    if (Array.isArray(e)) {
      const o = lastGenOffset(e);
      if (e[o + GEN_COUNT] === 0) {
        e[o + GEN_CREATED] = createRevision;
        e[o + GEN_VER] = version;
        e[o + GEN_COUNT] = 1;
        e.push(main, sub);
        return;
      }
    }
    this.put(key, main, sub);
    const after = this.lookupLatest(key);
    assert(after !== undefined && after.version === version, `key index: restored version of ${JSON.stringify(key)} differs`);
  }

  /** Records the deletion of a live `key` at revision (main, sub): ends its generation. */
  tombstone(key: string, main: number, sub: number): void {
    const e = this.tree.get(key);
    assert(e !== undefined, `key index: tombstone of unknown key ${JSON.stringify(key)}`);
    assertNewer(e, main, sub, key);
    if (typeof e === 'number') {
      this.tree.set(key, [e, 2, 2, e, 0, main, sub, 0, 0, 0]);
      return;
    }
    if (e instanceof SingleRevision) {
      this.tree.set(key, [e.created, e.ver + 1, 2, e.main, e.sub, main, sub, 0, 0, 0]);
      return;
    }
    const o = lastGenOffset(e);
    assert(e[o + GEN_COUNT] > 0, `key index: tombstone of deleted key ${JSON.stringify(key)}`);
    e[o + GEN_VER] += 1;
    e[o + GEN_COUNT] += 1;
    e.push(main, sub, 0, 0, 0);
  }

  /** The key at revision `atRev`, or undefined when it does not exist then. Returns a fresh object. */
  get(key: string, atRev: number): IndexHit | undefined {
    const e = this.tree.get(key);
    if (e === undefined) return undefined;
    const hit: IndexHit = { modMain: 0, modSub: 0, createRevision: 0, version: 0 };
    return lookup(e, atRev, hit) ? hit : undefined;
  }

  private lookupLatest(key: string): IndexHit | undefined {
    return this.get(key, Number.MAX_SAFE_INTEGER);
  }

  /**
   * Calls `visit` for every key in the range that exists at `atRev`, in key order; returns how many.
   * Range: `end` undefined or '' → the single key `key`; '\x00' → every key ≥ key; else [key, end).
   * `visit` receives a reused IndexHit, valid only during the call; returning false stops visits
   * (counting goes on).
   */
  range(key: string, end: string | undefined, atRev: number, visit?: (key: string, hit: IndexHit) => boolean | void): number {
    const hit = this.scratch;
    if (end === undefined || end === '') {
      const e = this.tree.get(key);
      if (e === undefined || !lookup(e, atRev, hit)) return 0;
      visit?.(key, hit);
      return 1;
    }
    const high = end === RANGE_END_ALL ? KEY_SPACE_END : end;
    if (high <= key) return 0;
    let count = 0;
    let visiting = visit !== undefined;
    this.tree.forRange(key, high, false, (k, e) => {
      if (!lookup(e, atRev, hit)) return;
      count++;
      if (visiting && visit!(k, hit) === false) visiting = false;
    });
    return count;
  }

  /** Number of keys in the range (as `range`) that exist at `atRev`. */
  countRange(key: string, end: string | undefined, atRev: number): number {
    return this.range(key, end, atRev);
  }

  /**
   * Compacts history at `atRev` (etcd's treeIndex.Compact): per key, drops every revision older than
   * the newest one ≤ atRev, and that one too when it is a tombstone; removes keys left with nothing.
   * Returns the revisions ≤ atRev still needed (sealed), which the backend must keep.
   */
  compact(atRev: number): RevisionSet {
    const keep = new RevisionSet();
    this.tree.editAll((_k, e) => {
      const compacted = compactEntry(e, atRev, keep, true);
      if (compacted === undefined) return { delete: true };
      if (compacted !== e) return { value: compacted };
      return undefined;
    });
    return keep.seal();
  }

  /** The revisions ≤ atRev that a compaction at atRev would keep, without compacting (etcd's Keep). */
  keep(atRev: number): RevisionSet {
    const keep = new RevisionSet();
    this.tree.forEachPair((_k, e) => {
      compactEntry(e, atRev, keep, false);
    });
    return keep.seal();
  }

  /** Every (key, entry form) pair, for tests and diagnostics: 'number' | 'single' | 'generations'. */
  *forms(): IterableIterator<[string, 'number' | 'single' | 'generations']> {
    for (const [k, e] of this.tree.entries()) {
      yield [k, typeof e === 'number' ? 'number' : e instanceof SingleRevision ? 'single' : 'generations'];
    }
  }
}
