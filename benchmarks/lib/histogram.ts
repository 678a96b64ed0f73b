/**
 * A latency histogram with log-linear buckets (HDR style): exact below 256 µs, then 128 buckets per
 * power of two, so any recorded value is reported within 0.8 % of its true value. Counts live in a
 * plain `Float64Array`, so histograms from worker threads travel by `postMessage` and merge by adding.
 */

const EXACT_BELOW_US = 256; // values below this get one bucket each
const SUB_BUCKET_BITS = 7; // 128 buckets per power of two above EXACT_BELOW_US
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const FIRST_EXPONENT = 8; // log2(EXACT_BELOW_US)
const MAX_EXPONENT = 40; // 2^41 µs ≈ 25 days: anything larger is clamped
const BUCKET_COUNT = EXACT_BELOW_US + (MAX_EXPONENT - FIRST_EXPONENT + 1) * SUB_BUCKETS;

/** The serialisable content of a histogram (what crosses a thread boundary). */
export interface HistogramSnapshot {
  counts: Float64Array;
  totalCount: number;
  minUs: number;
  maxUs: number;
  sumUs: number;
}

/** `Histogram.sparse()`: what the JSON report keeps of a run's latencies. */
export interface SparseHistogram {
  buckets: [number, number][];
  totalCount: number;
  minUs: number;
  maxUs: number;
  sumUs: number;
}

function bucketOf(valueUs: number): number {
  const v = Math.floor(valueUs);
  if (v < EXACT_BELOW_US) return v < 0 ? 0 : v;
  const exponent = Math.min(Math.floor(Math.log2(v)), MAX_EXPONENT);
  if (exponent === MAX_EXPONENT && v >= 2 ** (MAX_EXPONENT + 1)) return BUCKET_COUNT - 1;
  const sub = Math.floor(v / 2 ** (exponent - SUB_BUCKET_BITS)) - SUB_BUCKETS; // 0..127
  return EXACT_BELOW_US + (exponent - FIRST_EXPONENT) * SUB_BUCKETS + sub;
}

/** The middle of a bucket's value range, in µs. */
function bucketValueUs(bucket: number): number {
  if (bucket < EXACT_BELOW_US) return bucket;
  const exponent = FIRST_EXPONENT + Math.floor((bucket - EXACT_BELOW_US) / SUB_BUCKETS);
  const sub = (bucket - EXACT_BELOW_US) % SUB_BUCKETS;
  const width = 2 ** (exponent - SUB_BUCKET_BITS);
  return (SUB_BUCKETS + sub) * width + width / 2;
}

/** Records latencies in microseconds; answers percentiles. */
export class Histogram {
  private readonly counts: Float64Array;
  private totalCount = 0;
  private minUs = Infinity;
  private maxUs = 0;
  private sumUs = 0;

  constructor(snapshot?: HistogramSnapshot) {
    this.counts = new Float64Array(BUCKET_COUNT);
    if (snapshot !== undefined) this.add(snapshot);
  }

  /** Records one value in µs (negative values count as 0). */
  record(valueUs: number): void {
    const v = valueUs < 0 ? 0 : valueUs;
    this.counts[bucketOf(v)]! += 1;
    this.totalCount++;
    this.sumUs += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  /** Adds another histogram's counts into this one. */
  add(other: HistogramSnapshot): void {
    if (other.counts.length !== BUCKET_COUNT) throw new Error(`histogram layout mismatch: ${other.counts.length} buckets, expected ${BUCKET_COUNT}`);
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.totalCount += other.totalCount;
    this.sumUs += other.sumUs;
    if (other.totalCount > 0) {
      this.minUs = Math.min(this.minUs, other.minUs);
      this.maxUs = Math.max(this.maxUs, other.maxUs);
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.totalCount = 0;
    this.minUs = Infinity;
    this.maxUs = 0;
    this.sumUs = 0;
  }

  get count(): number {
    return this.totalCount;
  }

  /** Smallest recorded value in µs (0 when empty). */
  get min(): number {
    return this.totalCount === 0 ? 0 : this.minUs;
  }

  /** Largest recorded value in µs (0 when empty). */
  get max(): number {
    return this.maxUs;
  }

  /** Mean in µs (0 when empty). */
  get mean(): number {
    return this.totalCount === 0 ? 0 : this.sumUs / this.totalCount;
  }

  /**
   * The value in µs at or below which `percentile` % of the recorded values fall, within the
   * bucket precision and clamped to the recorded [min, max]. 0 when empty.
   */
  percentile(percentile: number): number {
    if (!(percentile >= 0 && percentile <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${percentile}`);
    if (this.totalCount === 0) return 0;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.totalCount));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Math.max(bucketValueUs(i), this.minUs), this.maxUs);
    }
    return this.maxUs;
  }

  /** The non-empty buckets as [bucket index, count] pairs plus the totals: compact, for JSON. */
  sparse(): SparseHistogram {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, totalCount: this.totalCount, minUs: this.min, maxUs: this.maxUs, sumUs: this.sumUs };
  }

  /** Rebuilds a histogram from `sparse()`. @throws RangeError on a bucket index outside the layout. */
  static fromSparse(sparse: SparseHistogram): Histogram {
    const h = new Histogram();
    for (const [i, n] of sparse.buckets) {
      if (!(Number.isSafeInteger(i) && i >= 0 && i < BUCKET_COUNT)) throw new RangeError(`histogram bucket ${i} outside 0..${BUCKET_COUNT - 1}`);
      h.counts[i]! += n;
    }
    h.totalCount = sparse.totalCount;
    h.sumUs = sparse.sumUs;
    h.minUs = sparse.totalCount > 0 ? sparse.minUs : Infinity;
    h.maxUs = sparse.maxUs;
    return h;
  }

  /** A copy of the content, for `postMessage` or JSON. */
  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), totalCount: this.totalCount, minUs: this.min, maxUs: this.maxUs, sumUs: this.sumUs };
  }
}
