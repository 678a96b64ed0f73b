/**
 * The memory/restart scenario: load N keys (sequential, fixed-size values) into a fresh server,
 * report its RSS and data size, then restart it on its data directory and time how long until it
 * answers a range on a key. Loads run one target at a time, with only that server running;
 * restarts alternate between targets for the given number of rounds.
 */
import { performance } from 'node:perf_hooks';
import { diskUsageBytes, Instance, Lab, Target } from './lab';
import { waitForRangeAnswer } from './probe';
import { readProcessMemory } from './proc-stats';
import { MemoryScenarioResult, MemoryTargetResult } from './results';
import { measureRun } from './scenarios';
import { formatKey } from './workloads';

export interface MemoryScenarioOptions {
  keys: number;
  keySize: number;
  valueSize: number;
  clients: number;
  connections: number;
  workers: number;
  /** Restarts per target. */
  rounds: number;
  /** Bound on one restart (spawn → first answered range), ms. */
  restartTimeoutMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
}

const DATA_DIR = (target: Target): string => `${target.name}-memory`;

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new Error('interrupted');
}

export async function runMemoryScenario(lab: Lab, targets: Target[], options: MemoryScenarioOptions): Promise<MemoryScenarioResult> {
  const keySize = Math.max(options.keySize, String(options.keys - 1).length);
  const probeKey = Buffer.from(formatKey(Math.floor(options.keys / 2), keySize), 'latin1');
  const results: MemoryTargetResult[] = [];
  for (const target of targets) {
    throwIfAborted(options.signal);
    const instance = await lab.start(target, DATA_DIR(target));
    options.log(`[memory] ${target.name}: loading ${options.keys.toLocaleString('en-US')} keys (${options.valueSize} B values, ${options.clients} clients)`);
    const startedMs = performance.now();
    const load = await measureRun(
      instance,
      { clients: options.clients, connections: options.connections, workload: { kind: 'put', keySize, valueSize: options.valueSize, keySpace: options.keys, sequential: true } },
      {
        stop: { totalRequests: options.keys },
        warmupMs: 0,
        workers: options.workers,
        round: 1,
        signal: options.signal,
        onProgress: (done) => {
          if (Math.round((performance.now() - startedMs) / 1000) % 10 === 0) options.log(`[memory] ${target.name}: ${done.toLocaleString('en-US')} puts`);
        },
      },
    );
    const memory = instance.pid !== null ? readProcessMemory(instance.pid) : null;
    options.log(`[memory] ${target.name}: ${Math.round(load.opsPerSec)} puts/s, ${load.errorCount} errors, RSS ${memory === null ? '?' : Math.round(memory.rssBytes / 2 ** 20)} MiB`);
    await lab.stop(instance);
    results.push({
      target: target.name,
      keys: options.keys,
      valueSize: options.valueSize,
      load,
      rssAfterLoadBytes: memory?.rssBytes ?? NaN,
      peakRssBytes: memory?.peakRssBytes ?? NaN,
      dataDirBytes: instance.dataDir !== null ? diskUsageBytes(instance.dataDir) : NaN,
      restarts: [],
    });
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const [i, target] of targets.entries()) {
      if (target.launch === null) continue; // an external endpoint cannot be restarted
      throwIfAborted(options.signal);
      let instance: Instance | null = null;
      try {
        instance = await lab.start(target, DATA_DIR(target));
        const server = instance.server!;
        const answeredMs = await waitForRangeAnswer(instance.url, probeKey, options.restartTimeoutMs);
        const sample = { round, readyLogMs: server.readyAfterMs, firstRangeMs: answeredMs - server.spawnedAtMs, rssAfterRestartBytes: readProcessMemory(instance.pid!).rssBytes };
        results[i]!.restarts.push(sample);
        options.log(`[memory] restart ${round}/${options.rounds} ${target.name}: ready log ${(sample.readyLogMs / 1000).toFixed(2)} s, first range ${(sample.firstRangeMs / 1000).toFixed(2)} s`);
      } finally {
        if (instance !== null) await lab.stop(instance);
      }
    }
  }
  return {
    kind: 'memory',
    name: 'memory',
    title: `memory and restart: ${options.keys.toLocaleString('en-US')} keys of ${keySize} B, ${options.valueSize} B values, loaded by ${options.clients} clients over ${options.connections} connections; restarts: median of ${options.rounds}`,
    targets: results,
  };
}
