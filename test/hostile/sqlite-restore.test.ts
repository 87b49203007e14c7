// Hostile cases for SQLite restores and backups to a local folder: stale journals, a database in use, tampered
// manifests, permissions, leftovers of killed runs, full disks. Real SQLite files, the real CLI.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, writeConfig } from '../harness/cli.js';
import { mountTinyFolder, noStackTrace, waitForCondition, waitForLine } from './hostile-support.js';

function fill(path: string, rows: number, mode: 'delete' | 'wal' = 'delete'): void {
  const db = new Database(path);
  db.pragma(`journal_mode = ${mode}`);
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, x BLOB)');
  const insert = db.prepare('INSERT INTO t (x) VALUES (randomblob(500))');
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) insert.run();
  })();
  db.close();
}

function count(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    return Number(db.prepare('SELECT count(*) FROM t').pluck().get());
  } finally {
    db.close();
  }
}

/** A child process that holds `path` open: `script` runs in it, then it prints "ready" and waits. */
function holder(path: string, script: string) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import Database from 'better-sqlite3'; const db = new Database(${JSON.stringify(path)}); ${script};
       console.log('ready'); process.stdin.on('data', (d) => { const r = eval(String(d)); console.log('done', r); });`,
    ],
    { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return { child, ready: waitForLine(child.stdout, 'ready') };
}

/** Runs `script` in a writer on `path`, then kills it (SIGKILL runs no clean-up): what it leaves stays. */
async function killedWriter(path: string, script: string): Promise<void> {
  const writer = holder(path, script);
  await writer.ready;
  writer.child.kill('SIGKILL');
  await new Promise((resolve) => writer.child.once('close', resolve));
}

describe('sqlite restores that never make things worse', () => {
  let dir: string;
  let config: string;
  let live: string;

  beforeAll(async () => {
    ({ dir, path: config } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
    }));
    live = join(dir, 'app.db');
    fill(live, 4000);
    const backup = await runCli(['--config', config, 'backup', 'app']);
    expect(backup.code, backup.stderr).toBe(0);
  });

  it('removes a stale hot journal before the new file takes the place of the old (finding 1)', async () => {
    fill(live, 2000);
    // A writer killed in the middle of a large transaction leaves a hot rollback journal beside the file.
    await killedWriter(
      live,
      "db.pragma('cache_size = 1'); db.exec('BEGIN'); db.exec('UPDATE t SET x = randomblob(600)')",
    );
    expect(existsSync(`${live}-journal`)).toBe(true);

    const restored = await runCli(['--config', config, 'restore', 'app', '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(existsSync(`${live}-journal`)).toBe(false);
    expect(count(live)).toBe(4000);
  });

  it('refuses, even with --force, while another process has a WAL database open, and loses nothing (finding 1)', async () => {
    const path = join(dir, 'busy.db');
    fill(path, 100, 'wal');
    const holding = holder(path, "db.exec('BEGIN'); db.prepare('INSERT INTO t (x) VALUES (zeroblob(10))').run()");
    await holding.ready;
    try {
      const restored = await runCli(['--config', config, 'restore', 'app', '--to', path, '--force']);
      expect(restored.code).toBe(1);
      expect(restored.stderr).toContain('another process has the database open or locked');
      expect(restored.stderr).toContain('--force does not override this');
      noStackTrace(restored.stderr);
      // The holder's transaction still commits into its database.
      holding.child.stdin.write("db.exec('COMMIT'); db.prepare('SELECT count(*) FROM t').pluck().get()\n");
      await waitForLine(holding.child.stdout, 'done 101');
    } finally {
      holding.child.kill();
    }
    expect(count(path)).toBe(101);
    expect(readdirSync(dir).filter((f) => f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('refuses a file bound in by a mount (it cannot be renamed over) and keeps what its WAL held', async () => {
    const path = join(dir, 'bound.db');
    fill(path, 100, 'wal');
    // A writer killed after its commits, before any checkpoint: 50 committed rows live only in the WAL.
    await killedWriter(
      path,
      "db.pragma('wal_autocheckpoint = 0'); for (let i = 0; i < 50; i += 1) db.prepare('INSERT INTO t (x) VALUES (randomblob(500))').run()",
    );
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(50 * 500);
    // A single file bound in (as `-v ./app.db:/data/app.db` does) is a mount point: rename onto it fails.
    execFileSync('mount', ['--bind', path, path]);
    try {
      const restored = await runCli(['--config', config, 'restore', 'app', '--to', path, '--force']);
      expect(restored.code).toBe(1);
      expect(restored.stderr).toContain(`sqlite: restore into ${path}: it cannot be replaced (EBUSY`);
      expect(restored.stderr).toContain('destination untouched');
      expect(restored.stderr).toContain('Try: mount the folder that holds the database');
      noStackTrace(restored.stderr);
    } finally {
      execFileSync('umount', [path]);
    }
    expect(count(path)).toBe(150);
    expect(readdirSync(dir).filter((f) => f.includes('lifeboat-restore'))).toEqual([]);
  });

  it('keeps the destination mode and owner, and writes backups private (finding 16)', async () => {
    const path = join(dir, 'owned.db');
    fill(path, 10);
    await chmod(path, 0o640);
    chownSync(path, 4321, 4322);
    const restored = await runCli(['--config', config, 'restore', 'app', '--to', path, '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    const info = statSync(path);
    expect(info.mode & 0o777).toBe(0o640);
    expect([info.uid, info.gid]).toEqual([4321, 4322]);
    expect(count(path)).toBe(4000);

    const fresh = join(dir, 'fresh.db');
    expect((await runCli(['--config', config, 'restore', 'app', '--to', fresh])).code).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);

    const store = join(dir, 'store', 'app');
    const [folder] = readdirSync(store);
    expect(statSync(store).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(join(store, folder as string))) {
      expect(statSync(join(store, folder as string, file)).mode & 0o777, file).toBe(0o600);
    }
  });

  it('checks the raw SHA-256 before the destination is touched (finding 3)', async () => {
    const { dir: tdir, path: tconfig } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [{ name: 'app', driver: 'sqlite', path: './app.db' }],
    });
    const path = join(tdir, 'app.db');
    fill(path, 50);
    expect((await runCli(['--config', tconfig, 'backup', 'app'])).code).toBe(0);
    fill(path, 25);
    const before = readFileSync(path);
    const [id] = readdirSync(join(tdir, 'store', 'app'));
    const manifestPath = join(tdir, 'store', 'app', id as string, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const raw: string = manifest.artifacts[0].rawSha256;
    manifest.artifacts[0].rawSha256 = `${raw[0] === 'a' ? 'b' : 'a'}${raw.slice(1)}`;
    await writeFile(manifestPath, JSON.stringify(manifest));
    const restored = await runCli(['--config', tconfig, 'restore', 'app', '--force']);
    expect(restored.code).toBe(1);
    expect(restored.stderr).toContain('failed verification, destination untouched');
    expect(restored.stderr).toContain('raw SHA-256');
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('removes the full copies that killed backups left in the temp folder (finding 18)', async () => {
    const temp = await mkdtemp(join(tmpdir(), 'lifeboat-tmp-'));
    const big = join(dir, 'big.db');
    fill(big, 30_000);
    const { path: bigConfig } = await writeConfig({
      storage: { type: 'local', path: join(dir, 'store-big') },
      // A killed run keeps the target's lease until it expires: a short one, so the next run takes over soon.
      lease: { ttl: '1s' },
      targets: [{ name: 'big', driver: 'sqlite', path: big }],
    });
    const leaseFile = join(dir, 'store-big', 'big', 'lease.json');
    const leaseExpired = () =>
      !existsSync(leaseFile) || Date.parse(JSON.parse(readFileSync(leaseFile, 'utf8')).expiresAt) < Date.now();
    // Killed at a few points of the copy: a SIGKILL runs no clean-up.
    const kills = 5;
    let leftBehind = 0;
    for (let round = 0; round < kills; round += 1) {
      await waitForCondition(leaseExpired, 10_000);
      const run = startCli(['--config', bigConfig, 'backup', 'big'], { TMPDIR: temp });
      await waitForCondition(() => readdirSync(temp).some((f) => f.startsWith('lifeboat-sqlite-')), 20_000);
      await new Promise((resolve) => setTimeout(resolve, round * 40));
      run.child.kill('SIGKILL');
      await run.result;
      leftBehind = Math.max(leftBehind, readdirSync(temp).length);
    }
    await waitForCondition(leaseExpired, 10_000);
    expect(leftBehind).toBeGreaterThan(0);
    // A folder of another host (a shared temp volume) is not this host's to judge.
    const foreign = join(temp, 'lifeboat-sqlite-otherhost.1-abcdef');
    await mkdir(foreign);
    const next = await runCli(['--config', bigConfig, 'backup', 'big'], { TMPDIR: temp });
    expect(next.code, next.stderr).toBe(0);
    expect(readdirSync(temp)).toEqual(['lifeboat-sqlite-otherhost.1-abcdef']);
    expect(hostname()).not.toBe('otherhost');
    // Whatever the kills left in the store, list shows only whole backups, and each verifies.
    const list = JSON.parse((await runCli(['--config', bigConfig, 'list', '--json'])).stdout) as { id: string }[];
    expect(list.length).toBeGreaterThan(0);
    const verify = await runCli(['--config', bigConfig, 'verify', 'big', '--all']);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('refuses before the download a destination whose file system has no room for the restored file', async () => {
    const tiny = await mountTinyFolder('1m');
    try {
      const path = join(tiny.path, 'app.db');
      fill(path, 10);
      const before = readFileSync(path);
      const room = `needs 2\\.\\d MiB free in ${tiny.path} \\(the restored file is written beside the old one, which stays until the new one proved itself\\), which has [\\d.]+ [KM]iB`;
      const planned = await runCli(['--config', config, 'restore', 'app', '--to', path, '--force', '--dry-run']);
      expect(planned.code, planned.stderr).toBe(0);
      expect(planned.stdout).toMatch(new RegExp(`local disk: +${room}: NOT ENOUGH, the restore would be refused`));
      const refused = await runCli(['--config', config, 'restore', 'app', '--to', path, '--force']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`restore app: ${room}; destination untouched`));
      expect(refused.stderr).toContain('Try: free space on that file system, or restore --to a folder with room');
      noStackTrace(refused.stderr);
      expect(readdirSync(tiny.path)).toEqual(['app.db']);
      expect(readFileSync(path).equals(before)).toBe(true);
    } finally {
      await tiny.unmount();
    }
  });

  it('names the temp folder, and the storage file and folder, when a disk is full (finding 8)', async () => {
    const big = join(dir, 'full.db');
    fill(big, 8000);
    const tiny = await mountTinyFolder('1m');
    try {
      const { path: bigConfig } = await writeConfig({
        storage: { type: 'local', path: join(dir, 'store-full') },
        targets: [{ name: 'big', driver: 'sqlite', path: big }],
      });
      const copy = await runCli(['--config', bigConfig, 'backup', 'big'], { TMPDIR: tiny.path });
      expect(copy.code).toBe(1);
      // Measured before the copy is made: the database's pages against the temp folder's room.
      expect(copy.stderr).toMatch(
        new RegExp(
          `sqlite: back up ${big}: needs [\\d.]+ MiB free in ${tiny.path}/lifeboat-sqlite-[^ ]+ \\(the consistent copy is made there, then compressed and stored\\), which has [\\d.]+ [KM]iB; the backups before this one are untouched`,
        ),
      );
      expect(copy.stderr).toMatch(/Try: free space in the temp folder .* or point TMPDIR at a larger folder/);
      expect(readdirSync(tiny.path)).toEqual([]);

      const { path: fullStore } = await writeConfig({
        storage: { type: 'local', path: join(tiny.path, 'store') },
        targets: [{ name: 'big', driver: 'sqlite', path: big }],
      });
      const store = await runCli(['--config', fullStore, 'backup', 'big']);
      expect(store.code).toBe(1);
      expect(store.stderr).toMatch(/ENOSPC \(file .*\/store\/big\/.*, folder .*\/store\/big\/.*\)/);
      expect(store.stderr).toContain('Try: free space on the file system of');
      noStackTrace(store.stderr);
    } finally {
      await tiny.unmount();
    }
  });
});
