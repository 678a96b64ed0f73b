/** The WAL's typed errors: operating errors a host must report to the operator, not crash on. */

/**
 * The WAL on disk cannot be trusted: a damaged record that is not a torn tail, a missing segment,
 * or records that contradict each other. Opening refuses rather than silently losing
 * acknowledged writes.
 */
export class WalCorruptError extends Error {
  readonly code = 'WAL_CORRUPT';
  /**
   * @param file path of the segment file at fault
   * @param offset byte offset in `file` of the first bad byte (0 when the whole file is at fault)
   * @param reason what is wrong there
   */
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `WAL corrupt: ${file} at byte offset ${offset}: ${reason}. ` +
        'This is not a torn write from a crash, so the member refuses to start rather than lose ' +
        'acknowledged writes. Keep the files for inspection; restore this data dir from a backup, ' +
        'or remove this member from the cluster (etcdctl member remove), clear its data dir and ' +
        'add it back (etcdctl member add) so that it catches up from the leader.',
    );
    this.name = 'WalCorruptError';
  }
}

/** A programmer error caught by an always-on WAL invariant check (e.g. a gap in entry indexes). */
export class WalAssertionError extends Error {
  readonly code = 'WAL_ASSERTION';
  constructor(message: string) {
    super(message);
    this.name = 'WalAssertionError';
  }
}

/** Always-on invariant check (STYLE: assertions stay on in production). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new WalAssertionError(message);
}
