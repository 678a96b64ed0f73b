/** Runs the backend conformance suite on both backends: in memory, and classic-level on real disk. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend, LevelBackend } from './backend';
import { describeBackendConformance } from './backend-conformance';
import { MemoryBackend } from './memory-backend';

describeBackendConformance('MemoryBackend', { open: async () => new MemoryBackend() });

const dirs = new Map<Backend, string>();
afterAll(async () => {
  for (const dir of new Set(dirs.values())) await rm(dir, { recursive: true, force: true });
});

describeBackendConformance('LevelBackend', {
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-backend-'));
    const backend = await LevelBackend.open(dir);
    dirs.set(backend, dir);
    return backend;
  },
  async reopen(backend) {
    const dir = dirs.get(backend)!;
    await backend.close();
    const reopened = await LevelBackend.open(dir);
    dirs.set(reopened, dir);
    return reopened;
  },
});
