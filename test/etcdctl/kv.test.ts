/**
 * etcdctl put / get / del against real etcd 3.4 and against Cairn: every case runs the same commands
 * on both and expects the same output (after normalizing IDs, terms, URLs, and revisions relative to
 * the case's start), then checks what etcd printed, so a case cannot pass by both sides failing alike.
 * The etcd v3 API semantics under test: etcdserverpb.KV Range/Put/DeleteRange (rpc.proto).
 */
import { b64, errorLine, parseJson, prefixSequence, Transcripts, usePair } from '../harness/compare';

const pair = usePair();
const nextPrefix = prefixSequence('kv');

/** [exit code, stdout] of each of etcd's steps. */
function results(t: Transcripts): Array<[number, string]> {
  return t.etcd.map((e) => [e.code, e.stdout]);
}

function expectSame(t: Transcripts): void {
  expect(t.cairn).toEqual(t.etcd);
}

describe('absolute revisions on a fresh server', () => {
  test('a fresh member is at revision 1 and each put adds one revision', async () => {
    const p = nextPrefix();
    const t = await pair.compare(
      [
        ['get', `${p}a`, '-w', 'json'],
        ['put', `${p}a`, '1'],
        ['put', `${p}b`, '2'],
        ['get', `${p}`, '--prefix', '-w', 'json'],
      ],
      { relativeRevisions: false },
    );
    expectSame(t);
    expect(parseJson(t.etcd[0]).header.revision).toBe(1);
    const kvs = parseJson(t.etcd[3]).kvs;
    expect(kvs.map((kv: { key: string; create_revision: number }) => [b64(kv.key), kv.create_revision])).toEqual([
      [`${p}a`, 2],
      [`${p}b`, 3],
    ]);
  });
});

describe('put', () => {
  test('put prints OK and get returns the value', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['get', `${p}k`],
      ['put', `${p}k`, 'v2'],
      ['get', `${p}k`, '-w', 'json'],
      ['get', `${p}k`, '-w', 'fields'],
      ['get', `${p}k`, '-w', 'simple'],
    ]);
    expectSame(t);
    expect(results(t).slice(0, 3)).toEqual([
      [0, 'OK\n'],
      [0, `${p}k\nv1\n`],
      [0, 'OK\n'],
    ]);
    const kv = parseJson(t.etcd[3]).kvs[0];
    expect([b64(kv.value), kv.version, kv.create_revision, kv.mod_revision]).toEqual(['v2', 2, 'R+1', 'R+2']);
    expect(t.etcd[4]!.stdout).toContain('"Value" : "v2"\n');
    expect(t.etcd[4]!.stdout).toContain('"Version" : 2\n');
    expect(t.etcd[5]!.stdout).toBe(`${p}k\nv2\n`);
  });

  test('put --prev-kv prints the previous key-value (simple, json, fields)', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'one', '--prev-kv'],
      ['put', `${p}k`, 'two', '--prev-kv'],
      ['put', `${p}k`, 'three', '--prev-kv', '-w', 'json'],
      ['put', `${p}k`, 'four', '--prev-kv', '-w', 'fields'],
      ['put', `${p}new`, 'x', '--prev-kv', '-w', 'json'],
    ]);
    expectSame(t);
    expect(results(t).slice(0, 2)).toEqual([
      [0, 'OK\n'],
      [0, `OK\n${p}k\none\n`],
    ]);
    const put3 = parseJson(t.etcd[2]);
    expect(put3.header.revision).toBe('R+3');
    expect([b64(put3.prev_kv.value), put3.prev_kv.version, put3.prev_kv.mod_revision]).toEqual(['two', 2, 'R+2']);
    expect(t.etcd[3]!.stdout).toContain('"PrevValue" : "three"\n');
    expect(parseJson(t.etcd[4]).prev_kv).toBeUndefined();
  });

  test('put --ignore-value keeps the value and bumps the version; on a missing key it fails', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'kept'],
      ['put', `${p}k`, '--ignore-value'],
      ['get', `${p}k`, '-w', 'json'],
      ['put', `${p}missing`, '--ignore-value'],
      ['put', `${p}k`, 'v', '--ignore-value'],
    ]);
    expectSame(t);
    const kv = parseJson(t.etcd[2]).kvs[0];
    expect([b64(kv.value), kv.version, kv.mod_revision]).toEqual(['kept', 2, 'R+2']);
    expect(t.etcd[3]!.code).toBe(1);
    expect(errorLine(t.etcd[3])).toBe('Error: etcdserver: key not found');
    expect(t.etcd[3]!.stderr).toContain('code = InvalidArgument');
    expect(t.etcd[4]!.code).toBe(128);
    expect(errorLine(t.etcd[4])).toBe("Error: put command needs only 1 argument when 'ignore-value' is set");
  });

  test('put --ignore-lease on a key without a lease keeps lease 0; on a missing key it fails', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['put', `${p}k`, 'v2', '--ignore-lease'],
      ['get', `${p}k`, '-w', 'fields'],
      ['put', `${p}missing`, 'v', '--ignore-lease'],
    ]);
    expectSame(t);
    expect(results(t).slice(0, 2)).toEqual([
      [0, 'OK\n'],
      [0, 'OK\n'],
    ]);
    expect(t.etcd[2]!.stdout).toContain('"Value" : "v2"\n"Lease" : 0\n');
    expect(t.etcd[3]!.code).toBe(1);
    expect(errorLine(t.etcd[3])).toBe('Error: etcdserver: key not found');
  });

  test('put --lease with a lease that does not exist fails with "requested lease not found"', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v', '--lease=1234abcd'],
      ['get', `${p}k`, '-w', 'json'],
    ]);
    expectSame(t);
    expect(t.etcd[0]!.code).toBe(1);
    expect(errorLine(t.etcd[0])).toBe('Error: etcdserver: requested lease not found');
    expect(t.etcd[0]!.stderr).toContain('code = NotFound');
    const get = parseJson(t.etcd[1]);
    expect(get.kvs).toBeUndefined();
    expect(get.header.revision).toBe('R+0');
  });

  test('put of an empty key fails with "key is not provided" and changes nothing', async () => {
    const t = await pair.compare([['put', '', 'v'], ['get', '', '-w', 'json'], ['del', '']]);
    expectSame(t);
    for (const entry of t.etcd) {
      expect(entry.code).toBe(1);
      expect(errorLine(entry)).toBe('Error: etcdserver: key is not provided');
      expect(entry.stderr).toContain('code = InvalidArgument');
    }
  });

  test('values: empty, from stdin, with spaces, newlines and UTF-8; --hex output', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}empty`, ''],
      { args: ['put', `${p}stdin`], input: 'line one\nline two\n' },
      ['put', `${p}space key`, 'a value with spaces'],
      ['put', `${p}utf8`, 'grüße ☃'],
      ['get', `${p}`, '--prefix'],
      ['get', `${p}`, '--prefix', '-w', 'json'],
      ['get', `${p}utf8`, '--hex'],
      ['get', `${p}empty`, '-w', 'fields'],
    ]);
    expectSame(t);
    expect(t.etcd[4]!.stdout).toBe(`${p}empty\n\n${p}space key\na value with spaces\n${p}stdin\nline one\nline two\n\n${p}utf8\ngrüße ☃\n`);
    expect(parseJson(t.etcd[5]).count).toBe(4);
    expect(t.etcd[6]!.stdout).toBe(`${[...Buffer.from(`${p}utf8`)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}\n${[...Buffer.from('grüße ☃')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}\n`);
    expect(t.etcd[7]!.stdout).toContain('"Value" : ""\n');
  });
});

describe('get', () => {
  /** Keys a..e created in the order c, a, e, b, d; then a and c modified; values chosen so that
   * key, create, modify, value and version orders all differ. */
  const seed = (p: string): string[][] => [
    ['put', `${p}c`, 'v3'],
    ['put', `${p}a`, 'v5'],
    ['put', `${p}e`, 'v1'],
    ['put', `${p}b`, 'v4'],
    ['put', `${p}d`, 'v2'],
    ['put', `${p}a`, 'v6'],
    ['put', `${p}c`, 'v0'],
    ['put', `${p}c`, 'v7'],
  ];

  test('a single key, a missing key, a prefix, a range [key, end) and --from-key', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['get', `${p}b`],
      ['get', `${p}zz`],
      ['get', `${p}`, '--prefix'],
      ['get', `${p}b`, `${p}d`],
      ['get', `${p}c`, '--from-key'],
      ['get', `${p}b`, `${p}d`, '-w', 'json'],
      ['get', `${p}zz`, '-w', 'json'],
      ['get', `${p}`, '--prefix', '-w', 'fields'],
    ]);
    expectSame(t);
    const r = results(t).slice(8);
    expect(r[0]).toEqual([0, `${p}b\nv4\n`]);
    expect(r[1]).toEqual([0, '']);
    expect(r[2]).toEqual([0, `${p}a\nv6\n${p}b\nv4\n${p}c\nv7\n${p}d\nv2\n${p}e\nv1\n`]);
    expect(r[3]).toEqual([0, `${p}b\nv4\n${p}c\nv7\n`]);
    expect(r[4]).toEqual([0, `${p}c\nv7\n${p}d\nv2\n${p}e\nv1\n`]);
    const range = parseJson(t.etcd[13]);
    expect([range.count, range.more, range.header.revision]).toEqual([2, undefined, 'R+8']);
    expect(parseJson(t.etcd[14])).toEqual({ header: expect.objectContaining({ revision: 'R+8' }) });
    expect(t.etcd[15]!.stdout).toContain('"Count" : 5\n');
  });

  test('--limit returns the first keys, with more and the full count', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['get', `${p}`, '--prefix', '--limit=2'],
      ['get', `${p}`, '--prefix', '--limit=2', '-w', 'json'],
      ['get', `${p}`, '--prefix', '--limit=2', '-w', 'fields'],
      ['get', `${p}`, '--prefix', '--limit=5', '-w', 'json'],
      ['get', `${p}`, '--prefix', '--limit=0', '--keys-only'],
    ]);
    expectSame(t);
    expect(t.etcd[8]!.stdout).toBe(`${p}a\nv6\n${p}b\nv4\n`);
    const limited = parseJson(t.etcd[9]);
    expect([limited.kvs.length, limited.count, limited.more]).toEqual([2, 5, true]);
    expect(t.etcd[10]!.stdout).toContain('"More" : true\n"Count" : 5\n');
    const all = parseJson(t.etcd[11]);
    expect([all.kvs.length, all.count, all.more]).toEqual([5, 5, undefined]);
    expect(t.etcd[12]!.stdout).toBe(`${p}a\n\n${p}b\n\n${p}c\n\n${p}d\n\n${p}e\n\n`);
  });

  test('--rev reads the key-value as of a past revision', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['get', `${p}c`, '--rev={rev+1}'],
      ['get', `${p}c`, '--rev={rev+7}', '-w', 'json'],
      ['get', `${p}`, '--prefix', '--rev={rev+3}'],
      ['get', `${p}b`, '--rev={rev+3}'],
      ['get', `${p}c`, '--rev={rev+8}', '-w', 'fields'],
    ]);
    expectSame(t);
    expect(t.etcd[8]!.stdout).toBe(`${p}c\nv3\n`);
    const at7 = parseJson(t.etcd[9]);
    expect([b64(at7.kvs[0].value), at7.kvs[0].version, at7.header.revision]).toEqual(['v0', 2, 'R+8']);
    expect(t.etcd[10]!.stdout).toBe(`${p}a\nv5\n${p}c\nv3\n${p}e\nv1\n`);
    expect(t.etcd[11]!.stdout).toBe('');
    expect(t.etcd[12]!.stdout).toContain('"Value" : "v7"\n');
  });

  test('--rev of a future revision fails with "required revision is a future revision"', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v'],
      ['get', `${p}k`, '--rev={rev+2}'],
      ['get', `${p}k`, '--rev={rev+1000}', '-w', 'json'],
    ]);
    expectSame(t);
    for (const entry of t.etcd.slice(1)) {
      expect(entry.code).toBe(1);
      expect(errorLine(entry)).toBe('Error: etcdserver: mvcc: required revision is a future revision');
      expect(entry.stderr).toContain('code = OutOfRange');
    }
  });

  describe.each(['KEY', 'CREATE', 'MODIFY', 'VALUE', 'VERSION'])('--sort-by=%s', (target) => {
    test('ASCEND, DESCEND and no order', async () => {
      const p = nextPrefix();
      const t = await pair.compare([
        ...seed(p),
        ['get', `${p}`, '--prefix', `--sort-by=${target}`, '--order=ASCEND', '--keys-only'],
        ['get', `${p}`, '--prefix', `--sort-by=${target}`, '--order=DESCEND', '--keys-only'],
        ['get', `${p}`, '--prefix', `--sort-by=${target}`, '--keys-only'],
        ['get', `${p}`, '--prefix', `--sort-by=${target}`, '--order=DESCEND', '--limit=2', '-w', 'json'],
      ]);
      expectSame(t);
      // Ties (VERSION: b, d and e have version 1) keep key order in both directions: etcd sorts
      // small ranges with Go's insertion sort, which is stable, also under sort.Reverse.
      const orders: Record<string, [string, string]> = {
        KEY: ['abcde', 'edcba'],
        CREATE: ['caebd', 'dbeac'],
        MODIFY: ['ebdac', 'cadbe'],
        VALUE: ['edbac', 'cabde'],
        VERSION: ['bdeac', 'cabde'],
      };
      const keys = (stdout: string): string =>
        stdout
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => line.slice(p.length))
          .join('');
      const [ascending, descending] = orders[target]!;
      expect(keys(t.etcd[8]!.stdout)).toBe(ascending);
      expect(keys(t.etcd[9]!.stdout)).toBe(descending);
      // etcdctl sends ASCEND when --sort-by comes without --order.
      expect(keys(t.etcd[10]!.stdout)).toBe(ascending);
      const limited = parseJson(t.etcd[11]);
      expect([limited.kvs.length, limited.count, limited.more]).toEqual([2, 5, true]);
    });
  });

  test('an invalid --sort-by target or --order is refused', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['get', `${p}`, '--prefix', '--sort-by=FOO'],
      ['get', `${p}`, '--prefix', '--sort-by=KEY', '--order=SIDEWAYS'],
    ]);
    expectSame(t);
    expect([t.etcd[0]!.code, errorLine(t.etcd[0])]).toEqual([4, 'Error: bad sort target FOO']);
    expect([t.etcd[1]!.code, errorLine(t.etcd[1])]).toEqual([4, 'Error: bad sort order SIDEWAYS']);
  });

  test('--keys-only and --print-value-only', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['get', `${p}`, '--prefix', '--keys-only'],
      ['get', `${p}`, '--prefix', '--keys-only', '-w', 'json'],
      ['get', `${p}`, '--prefix', '--print-value-only'],
      ['get', `${p}b`, '--print-value-only'],
      ['get', `${p}`, '--prefix', '--keys-only', '-w', 'fields'],
    ]);
    expectSame(t);
    expect(t.etcd[8]!.stdout).toBe(`${p}a\n\n${p}b\n\n${p}c\n\n${p}d\n\n${p}e\n\n`);
    const keysOnly = parseJson(t.etcd[9]);
    expect(keysOnly.kvs.every((kv: { value?: string }) => kv.value === undefined)).toBe(true);
    expect(keysOnly.kvs[2]).toEqual({ key: Buffer.from(`${p}c`).toString('base64'), create_revision: 'R+1', mod_revision: 'R+8', version: 3 });
    expect(t.etcd[10]!.stdout).toBe('v6\nv4\nv7\nv2\nv1\n');
    expect(t.etcd[11]!.stdout).toBe('v4\n');
    expect(t.etcd[12]!.stdout).toContain('"Key" : "' + p + 'c"\n"CreateRevision" : R+1\n"ModRevision" : R+8\n"Version" : 3\n"Value" : ""\n');
    expect(t.etcd[12]!.stdout).not.toContain('v7');
  });

  test('--consistency=s (serializable) reads the same data as linearizable', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['get', `${p}`, '--prefix', '--consistency=s'],
      ['get', `${p}a`, '--consistency=s', '-w', 'json'],
      ['get', `${p}a`, '--consistency=l', '-w', 'json'],
      ['get', `${p}a`, '--consistency=x'],
    ]);
    expectSame(t);
    expect(t.etcd[8]!.stdout).toBe(`${p}a\nv6\n${p}b\nv4\n${p}c\nv7\n${p}d\nv2\n${p}e\nv1\n`);
    expect(parseJson(t.etcd[9])).toEqual(parseJson(t.etcd[10]));
    expect([t.etcd[11]!.code, errorLine(t.etcd[11])]).toEqual([4, 'Error: unknown consistency flag "x"']);
  });
});

describe('get: options etcdctl 3.4 does not have', () => {
  test('--count-only and --min-mod-revision are unknown flags (the options are covered over gRPC in test/kv-range-options.test.ts)', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['get', `${p}`, '--prefix', '--count-only'],
      ['get', `${p}`, '--prefix', '--min-mod-revision=1'],
    ]);
    expectSame(t);
    expect([t.etcd[0]!.code, errorLine(t.etcd[0])]).toEqual([1, 'Error: unknown flag: --count-only']);
    expect([t.etcd[1]!.code, errorLine(t.etcd[1])]).toEqual([1, 'Error: unknown flag: --min-mod-revision']);
  });
});

describe('del', () => {
  const seed = (p: string): string[][] => ['a', 'b', 'c', 'd', 'e'].map((k) => ['put', `${p}${k}`, `val-${k}`]);

  test('a key, a missing key, and --prev-kv (simple, json, fields)', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['del', `${p}a`],
      ['del', `${p}a`],
      ['del', `${p}b`, '--prev-kv'],
      ['del', `${p}c`, '--prev-kv', '-w', 'json'],
      ['del', `${p}d`, '--prev-kv', '-w', 'fields'],
      ['del', `${p}zz`, '-w', 'json'],
      ['get', `${p}`, '--prefix', '-w', 'json'],
    ]);
    expectSame(t);
    expect(results(t).slice(5, 7)).toEqual([
      [0, '1\n'],
      [0, '0\n'],
    ]);
    expect(t.etcd[7]!.stdout).toBe(`1\n${p}b\nval-b\n`);
    const delC = parseJson(t.etcd[8]);
    expect([delC.deleted, b64(delC.prev_kvs[0].value), delC.header.revision]).toEqual([1, 'val-c', 'R+8']);
    expect(t.etcd[9]!.stdout).toContain('"Deleted" : 1\n"PrevKey" : ');
    const delMissing = parseJson(t.etcd[10]);
    expect([delMissing.deleted, delMissing.header.revision]).toEqual([undefined, 'R+9']);
    const left = parseJson(t.etcd[11]);
    expect(left.kvs.map((kv: { key: string }) => b64(kv.key))).toEqual([`${p}e`]);
  });

  test('--prefix, a range [key, end) and --from-key', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ...seed(p),
      ['put', `${p}sub/x`, '1'],
      ['put', `${p}sub/y`, '2'],
      ['del', `${p}sub/`, '--prefix'],
      ['del', `${p}a`, `${p}c`, '--prev-kv'],
      ['del', `${p}d`, '--from-key', '-w', 'json'],
      ['get', `${p}`, '--prefix'],
      ['del', `${p}`, '--prefix'],
    ]);
    expectSame(t);
    expect(results(t).slice(7)).toEqual([
      [0, '2\n'],
      [0, `2\n${p}a\nval-a\n${p}b\nval-b\n`],
      [0, expect.any(String)],
      [0, `${p}c\nval-c\n`],
      [0, '1\n'],
    ]);
    const fromKey = parseJson(t.etcd[9]);
    expect([fromKey.deleted, fromKey.header.revision]).toEqual([2, 'R+10']);
  });

  test('a deleted key can be re-created with version 1 and a new create revision', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, '1'],
      ['put', `${p}k`, '2'],
      ['del', `${p}k`],
      ['put', `${p}k`, '3'],
      ['get', `${p}k`, '-w', 'json'],
      ['get', `${p}k`, '--rev={rev+2}', '-w', 'json'],
      ['get', `${p}k`, '--rev={rev+3}', '-w', 'json'],
    ]);
    expectSame(t);
    const now = parseJson(t.etcd[4]).kvs[0];
    expect([now.create_revision, now.mod_revision, now.version]).toEqual(['R+4', 'R+4', 1]);
    const before = parseJson(t.etcd[5]).kvs[0];
    expect([before.create_revision, before.mod_revision, before.version]).toEqual(['R+1', 'R+2', 2]);
    expect(parseJson(t.etcd[6]).kvs).toBeUndefined();
  });
});
