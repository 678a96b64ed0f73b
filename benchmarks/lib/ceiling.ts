/**
 * Measures the load generator's own ceiling: the same put load as a real scenario, against the
 * no-op gRPC server (`echo-server.ts`) in a child process on this machine.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { runLoad } from './load';
import { readProcessCpuMicros } from './proc-stats';
import { GeneratorCeiling } from './results';

export interface CeilingOptions {
  clients: number;
  connections: number;
  workers: number;
  durationMs: number;
  warmupMs: number;
  signal?: AbortSignal;
}

/** Starts the compiled echo server; resolves with its pid, port and a stop function. */
function startEchoServer(): Promise<{ pid: number; port: number; stop: () => void }> {
  const script = path.join(__dirname, 'echo-server.js');
  const child = spawn(process.execPath, [script, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = (): void => {
    child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`echo server exited (code ${code}) before listening; is ${script} built?`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (\d+)/.exec(out);
      if (m !== null) resolve({ pid: child.pid!, port: Number(m[1]), stop });
    });
  });
}

export async function measureGeneratorCeiling(options: CeilingOptions): Promise<GeneratorCeiling> {
  const echo = await startEchoServer();
  try {
    let echoCpuStart = 0;
    const result = await runLoad(
      {
        url: `http://127.0.0.1:${echo.port}`,
        connections: options.connections,
        clients: options.clients,
        workers: options.workers,
        workload: { kind: 'put', keySize: 8, valueSize: 256, keySpace: 100_000, sequential: false },
        stop: { durationMs: options.durationMs },
        warmupMs: options.warmupMs,
      },
      { signal: options.signal, onWindowStart: () => (echoCpuStart = readProcessCpuMicros(echo.pid)) },
    );
    const calls = result.okCount + result.errorCount;
    if (result.errorCount > 0) throw new Error(`generator ceiling: ${result.errorCount} errors against the no-op server: ${JSON.stringify(result.errors)}`);
    return {
      opsPerSec: (result.okCount * 1000) / result.elapsedMs,
      generatorCpuMicrosPerOp: result.generatorCpuMicros / calls,
      echoServerCpuMicrosPerOp: (readProcessCpuMicros(echo.pid) - echoCpuStart) / calls,
      clients: options.clients,
      connections: options.connections,
      workers: result.workers,
    };
  } finally {
    echo.stop();
  }
}
