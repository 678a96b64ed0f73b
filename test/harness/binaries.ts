/**
 * Where the reference binaries live, and the guard that fails (never skips) a test when they are
 * missing: the compatibility suite means nothing without real etcd and etcdctl to compare against.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ETCD_BIN = '/usr/bin/etcd';
export const ETCDCTL_BIN = '/usr/bin/etcdctl';

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws, with the packages to install, unless /usr/bin/etcd and /usr/bin/etcdctl are executable. */
export function requireEtcdBinaries(binaries: readonly string[] = [ETCD_BIN, ETCDCTL_BIN]): void {
  const missing = binaries.filter((bin) => !isExecutable(bin));
  if (missing.length === 0) return;
  throw new Error(
    `missing ${missing.join(' and ')}: the integration tests compare Cairn with real etcd 3.4. ` +
      `Install the Debian packages etcd-server and etcd-client (apt-get install etcd-server etcd-client).`,
  );
}

/** The repository root: the nearest ancestor of this file holding a package.json named "cairn". */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string };
      if (parsed.name === 'cairn') return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no cairn package.json above ${__dirname}`);
    dir = parent;
  }
}
