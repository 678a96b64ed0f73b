/**
 * The one conformance suite every Backend passes (backend.test.ts runs it on MemoryBackend and on
 * LevelBackend): synchronous reads after writes, atomic ordered batches, byte-ordered chunked
 * scans of [gte, lt), keys-only scans, sizes, and (where the backend persists) reopening.
 */
import type { Backend, ScanEntry } from './backend';

/** How the suite gets backends of the implementation under test. */
export interface BackendUnderTest {
  /** A new, empty backend. */
  open(): Promise<Backend>;
  /** Closes `backend` and opens it again on the same storage; absent when nothing persists. */
  reopen?(backend: Backend): Promise<Backend>;
}

const u8 = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);
const hex = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('hex'));

async function collect(chunks: AsyncIterable<ScanEntry[]>): Promise<{ sizes: number[]; entries: [string, string | undefined][] }> {
  const sizes: number[] = [];
  const entries: [string, string | undefined][] = [];
  for await (const chunk of chunks) {
    sizes.push(chunk.length);
    for (const [k, v] of chunk) entries.push([hex(k)!, hex(v)]);
  }
  return { sizes, entries };
}

/** Registers the conformance tests for one Backend implementation. */
export function describeBackendConformance(name: string, subject: BackendUnderTest): void {
  describe(`backend conformance: ${name}`, () => {
    let backend: Backend;
    beforeEach(async () => {
      backend = await subject.open();
    });
    afterEach(async () => {
      await backend.close();
    });

    test('a completed write is visible to getSync; a missing key reads undefined', async () => {
      expect(backend.getSync(u8(1))).toBeUndefined();
      await backend.write([{ type: 'put', key: u8(1), value: u8(9, 9) }]);
      expect(hex(backend.getSync(u8(1)))).toBe('0909');
    });

    test('a batch applies in order: a later put or delete of the same key wins', async () => {
      await backend.write([
        { type: 'put', key: u8(1), value: u8(1) },
        { type: 'put', key: u8(1), value: u8(2) },
        { type: 'put', key: u8(2), value: u8(3) },
        { type: 'del', key: u8(2) },
      ]);
      expect(hex(backend.getSync(u8(1)))).toBe('02');
      expect(backend.getSync(u8(2))).toBeUndefined();
    });

    test('the backend keeps its own copy of written bytes', async () => {
      const value = u8(1, 2, 3);
      await backend.write([{ type: 'put', key: u8(5), value }]);
      value[0] = 0xff;
      expect(hex(backend.getSync(u8(5)))).toBe('010203');
    });

    test('scan yields [gte, lt) in byte order, in chunks of at most chunkSize', async () => {
      const keys = [u8(0x6b, 0), u8(0x6b, 0xff), u8(0x6b, 1), u8(0x6b), u8(0x6a, 0xff), u8(0x6c), u8(0x6b, 1, 0)];
      await backend.write(keys.map((key, i) => ({ type: 'put' as const, key, value: u8(i) })));
      const scanned = await collect(backend.scan({ gte: u8(0x6b), lt: u8(0x6c), values: true, chunkSize: 2 }));
      expect(scanned.entries).toEqual([
        ['6b', '03'],
        ['6b00', '00'],
        ['6b01', '02'],
        ['6b0100', '06'],
        ['6bff', '01'],
      ]);
      expect(scanned.sizes).toEqual([2, 2, 1]);
      const keysOnly = await collect(backend.scan({ gte: u8(0x6b, 1), lt: u8(0x6b, 0xff), values: false }));
      expect(keysOnly.entries).toEqual([
        ['6b01', undefined],
        ['6b0100', undefined],
      ]);
      expect((await collect(backend.scan({ gte: u8(0x70), lt: u8(0x71), values: true }))).entries).toEqual([]);
    });

    test('entries deleted while a scan runs, behind it, do not disturb it', async () => {
      const writes = Array.from({ length: 10 }, (_, i) => ({ type: 'put' as const, key: u8(0x6b, i), value: u8(i) }));
      await backend.write(writes);
      const seen: number[] = [];
      for await (const chunk of backend.scan({ gte: u8(0x6b), lt: u8(0x6c), values: false, chunkSize: 3 })) {
        for (const [k] of chunk) seen.push(k[1]);
        await backend.write(chunk.map(([key]) => ({ type: 'del' as const, key })));
      }
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect((await collect(backend.scan({ gte: u8(0x6b), lt: u8(0x6c), values: false }))).entries).toEqual([]);
    });

    test('sizes are non-negative numbers', async () => {
      await backend.write([{ type: 'put', key: u8(0x6b, 1), value: new Uint8Array(1000) }]);
      expect(await backend.approximateSize(u8(0x6b), u8(0x6c))).toBeGreaterThanOrEqual(0);
      expect(await backend.totalSize()).toBeGreaterThan(0);
    });

    if (subject.reopen !== undefined) {
      const reopen = subject.reopen.bind(subject);
      test('written data, synced or not, survives a clean close and reopen', async () => {
        await backend.write([{ type: 'put', key: u8(1), value: u8(1) }]);
        await backend.write([{ type: 'put', key: u8(2), value: u8(2) }], { sync: true });
        backend = await reopen(backend);
        expect(hex(backend.getSync(u8(1)))).toBe('01');
        expect(hex(backend.getSync(u8(2)))).toBe('02');
      });
    }
  });
}
