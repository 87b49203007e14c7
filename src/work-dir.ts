// Temporary work folders. Each is named after the host and process that made it, so that what a killed run
// left behind (a SIGKILL runs no clean-up) can be told from what a running one still uses, and removed.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const NAME = /^lifeboat-([a-z0-9]+)-([A-Za-z0-9_.-]+)\.(\d+)-[A-Za-z0-9]{6}$/;

function hostLabel(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '_')
      .slice(0, 63) || 'host'
  );
}

/**
 * A new private (0700) folder `lifeboat-<kind>-<host>.<pid>-XXXXXX` in `base` (default: the temp folder). The
 * kind is letters and digits only: a hyphen in it would make removeStaleWorkDirs read it as part of the host,
 * and never remove what a killed run left.
 */
export function makeWorkDir(kind: string, base: string = tmpdir()): Promise<string> {
  if (!/^[a-z0-9]+$/.test(kind)) {
    return Promise.reject(new Error(`work-dir: kind "${kind}" must be lowercase letters and digits`));
  }
  return mkdtemp(join(base, `lifeboat-${kind}-${hostLabel()}.${process.pid}-`));
}

/**
 * Writes `raw` to a private file `name` in a new work folder of `kind`, hands its path to `use`, and removes
 * the folder whatever happened: for a tool that needs a file, not a stream (seekable, or read only once the
 * download proved itself).
 */
export async function withSpooledFile<T>(
  kind: string,
  name: string,
  raw: Readable,
  signal: AbortSignal | undefined,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const dir = await makeWorkDir(kind);
  try {
    const file = join(dir, name);
    await pipeline(raw, createWriteStream(file, { mode: 0o600 }), { signal });
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether a process of this host with that pid exists (under any user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the work folders in `base` that a process of this host made and that process is gone; returns
 * their paths. Folders of other hosts (a shared temp volume) are left alone: their owners cannot be asked.
 */
export async function removeStaleWorkDirs(base: string = tmpdir()): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(base);
  } catch {
    return [];
  }
  const host = hostLabel();
  const removed: string[] = [];
  for (const entry of entries) {
    const match = NAME.exec(entry);
    if (match === null || match[2] !== host) continue;
    const pid = Number(match[3]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(base, entry);
    await rm(path, { recursive: true, force: true }).then(
      () => removed.push(path),
      () => undefined,
    );
  }
  return removed;
}
