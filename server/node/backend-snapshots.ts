/**
 * The member's state machine in Raft snapshots: the MVCC backend travels whole (as etcd sends its
 * bbolt file). A received backend is written to `member/snap/<index>.snap.db` and fsynced before
 * the WAL records the snapshot; then it replaces `member/db`. A crash between the two finds the
 * staged backend at startup, named by the WAL's snapshot index, and finishes the swap
 * (`finishStagedSnapshot`), as etcd opens its `<index>.snap.db` when the backend is behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LevelBackend } from '../mvcc/backend';
import { encodeBackendSnapshot, writeBackendSnapshot } from '../mvcc/backend-snapshot';
import type { MvccStore } from '../mvcc/types';
import type { Logger } from '../log';
import type { StateMachineSnapshots } from './member';

/** A backend snapshot larger than this is not sent (it is held in memory whole while it travels). */
export const BACKEND_SNAPSHOT_BYTES_MAX = 4 * 1024 * 1024 * 1024 - 1;

function stagedName(index: number): string {
  return `${index.toString(16).padStart(16, '0')}.snap.db`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await fs.promises.open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** Moves the staged backend of `index` into `dbDir` (the live one is removed). */
async function swapIn(dbDir: string, snapDir: string, index: number): Promise<void> {
  const staged = path.join(snapDir, stagedName(index));
  const old = `${dbDir}.replaced`;
  await fs.promises.rm(old, { recursive: true, force: true });
  if (fs.existsSync(dbDir)) await fs.promises.rename(dbDir, old);
  await fs.promises.rename(staged, dbDir);
  await fsyncDir(path.dirname(dbDir));
  await fs.promises.rm(old, { recursive: true, force: true });
}

/**
 * At startup, before the store opens: when the WAL's last snapshot has a staged backend, the swap
 * was interrupted: finish it. Other staged backends (a transfer cut short) are removed.
 */
export async function finishStagedSnapshot(opts: { dbDir: string; snapDir: string; walSnapshotIndex: number; log: Logger }): Promise<void> {
  if (!fs.existsSync(opts.snapDir)) return;
  for (const name of await fs.promises.readdir(opts.snapDir)) {
    if (!name.endsWith('.snap.db')) continue;
    if (opts.walSnapshotIndex > 0 && name === stagedName(opts.walSnapshotIndex)) {
      opts.log.warn({ index: opts.walSnapshotIndex }, 'found a received snapshot not yet swapped in; finishing the swap');
      await swapIn(opts.dbDir, opts.snapDir, opts.walSnapshotIndex);
    } else {
      await fs.promises.rm(path.join(opts.snapDir, name), { recursive: true, force: true });
    }
  }
}

/** The member's StateMachineSnapshots over its store; `afterInstall` reloads what is built on the store. */
export function backendSnapshots(opts: { store: MvccStore; dbDir: string; snapDir: string; afterInstall: () => Promise<void>; log: Logger }): StateMachineSnapshots {
  return {
    open: async () => {
      const view = await opts.store.openSnapshot();
      return () => encodeBackendSnapshot(view, BACKEND_SNAPSHOT_BYTES_MAX);
    },
    stage: async (index, data) => {
      await fs.promises.mkdir(opts.snapDir, { recursive: true });
      const dir = path.join(opts.snapDir, stagedName(index));
      await fs.promises.rm(dir, { recursive: true, force: true });
      const backend = await LevelBackend.open(dir);
      try {
        const { records } = await writeBackendSnapshot(backend, data);
        opts.log.info({ index, records, bytes: data.length }, 'staged the received backend');
      } finally {
        await backend.close();
      }
      await fsyncDir(opts.snapDir);
    },
    install: async (index) => {
      await opts.store.restore(async () => {
        await swapIn(opts.dbDir, opts.snapDir, index);
        return LevelBackend.open(opts.dbDir);
      });
      await opts.afterInstall();
    },
  };
}
