/**
 * Shared pieces of the benchmark smoke tests: a real etcd started once per `describe` block, and
 * the check that a load run completed every call without an error.
 */
import { Histogram } from './lib/histogram';
import { Instance, Lab } from './lib/lab';
import type { runLoad } from './lib/load';

export const ETCD = '/usr/bin/etcd';

/** Starts etcd in beforeAll and stops it (and removes its data) in afterAll. */
export function useEtcd(): () => Instance {
  let lab: Lab | undefined;
  let etcd: Instance | undefined;
  beforeAll(async () => {
    lab = Lab.create();
    etcd = await lab.start({ name: 'etcd', launch: { command: ETCD, args: [] } }, 'etcd');
  });
  afterAll(async () => {
    await lab?.stopAll();
    lab?.remove();
  });
  return () => {
    if (etcd === undefined) throw new Error('etcd not started');
    return etcd;
  };
}

/** Every one of `total` calls succeeded, and the latency histogram counts them all (µs, no call near the 10 s timeout). */
export function expectAllOk(result: Awaited<ReturnType<typeof runLoad>>, total: number): Histogram {
  expect(result.errors).toEqual({});
  expect(result.errorCount).toBe(0);
  expect(result.okCount).toBe(total);
  const h = new Histogram(result.histogram);
  expect(h.count).toBe(total);
  expect(h.max).toBeLessThan(5_000_000);
  return h;
}
