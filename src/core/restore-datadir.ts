// Point-in-time recovery of a physical PostgreSQL target into a data directory: the base backup chosen by the
// recovery windows, unpacked and checked, and the recovery settings that fetch WAL through Lifeboat.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import {
  appendFile,
  chmod,
  chown,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar';
import type { Manifest } from '../catalog/manifest.js';
import type { EncryptionConfig, PostgresTargetConfig } from '../config/schema.js';
import { connectionFromConfig, type PgConnection, withClient } from '../drivers/postgres/connection.js';
import { runTool, toolPath } from '../drivers/run-tool.js';
import { describeError, IntegrityError, LifeboatError } from '../errors.js';
import { freePort } from '../free-port.js';
import { ensureRoom, measureRoom } from '../free-space.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { checkArtifact, missingIdentity } from '../verify/verify.js';
import { fetchNewest } from '../wal/archive.js';
import { DEFAULT_SEGMENT_SIZE, historyName } from '../wal/segment.js';
import { describeGap, describeWindows, type RecoveryState, readRecoveryState } from '../wal/state.js';
import { pathOf, planRecovery, type RecoveryWindow } from '../wal/windows.js';
import { processAlive } from '../work-dir.js';

export interface DatadirRestoreRequest {
  readonly storage: Storage;
  readonly target: PostgresTargetConfig;
  readonly logger: Logger;
  /** The time to recover to; undefined: the newest archived WAL. */
  readonly pointInTime?: Date;
  /** The timeline whose history to follow (default: the newest whose window holds the time). */
  readonly timeline?: number;
  readonly datadir: string;
  readonly force: boolean;
  readonly dryRun: boolean;
  /** Start a throwaway server on a free port and wait for the recovery to reach the time. */
  readonly start: boolean;
  readonly encryption?: EncryptionConfig;
  /** How PostgreSQL's restore_command runs Lifeboat: this program and its arguments up to `wal-fetch`. */
  readonly fetchCommand: readonly string[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (rawBytes: number) => void;
  /** What the store holds for the target, when the caller has read it already. */
  readonly state?: RecoveryState;
  /** Put the plan's WAL into pg_wal before the server starts (always so when the server runs as another user). */
  readonly stageWal?: boolean;
  /** Hears each stage as it starts: the base backup's download (verified as it flows), pg_verifybackup, recovery. */
  readonly onStage?: (stage: 'download' | 'verify' | 'restore') => void;
  /** How long --start waits for the recovery (default 30 min). */
  readonly startTimeoutMs?: number;
}

export interface DatadirPlan {
  readonly target: string;
  readonly backup: Manifest;
  readonly timeline: number;
  /** The time recovered to (undefined: the end of the archived WAL). */
  readonly pointInTime?: string;
  readonly walFiles: number;
  readonly walBytes: number;
  readonly baseBytes: number;
  readonly window: RecoveryWindow;
  readonly datadir: string;
  readonly datadirHasData: boolean;
  /** The WAL files of the plan, by PostgreSQL name, and the history files of its timelines. */
  readonly walNames: readonly string[];
}

export interface DatadirResult extends DatadirPlan {
  readonly restored: boolean;
  readonly durationMs: number;
  /** With --start: the running server. */
  readonly server?: { readonly url: string; readonly pid: number; readonly log: string };
}

/** Chooses the base backup and WAL for the time; refuses a time outside the recoverable windows. */
export async function planDatadirRestore(request: DatadirRestoreRequest): Promise<DatadirPlan> {
  const name = request.target.name;
  const state = request.state ?? (await readRecoveryState(request.storage, name));
  if (state.bases.length === 0) {
    throw new LifeboatError('NOT_FOUND', `restore ${name}: no physical base backups in ${request.storage.location}`, {
      hint: `run \`lifeboat backup ${name}\` (method: physical) first`,
    });
  }
  const windows = state.windows.filter((w) => request.timeline === undefined || w.timeline === request.timeline);
  const newest = windows.reduce<RecoveryWindow | undefined>(
    (best, w) => (best === undefined || w.to > best.to ? w : best),
    undefined,
  );
  const at = request.pointInTime?.getTime() ?? newest?.to;
  const plan = at === undefined ? undefined : planRecovery(state.bases, state.archive, at, request.timeline);
  const window =
    plan === undefined
      ? undefined
      : windows.find((w) => w.timeline === plan.timeline && w.from <= (at as number) && (at as number) <= w.to);
  if (plan === undefined || window === undefined) {
    const gaps = state.gaps.map(describeGap);
    throw new LifeboatError(
      'NOT_RECOVERABLE',
      `restore ${name}: ${request.pointInTime?.toISOString() ?? 'the newest point'} is not recoverable${request.timeline === undefined ? '' : ` on timeline ${request.timeline}`}: recoverable windows: ${describeWindows(state.windows)}${gaps.length > 0 ? `; ${gaps.join('; ')}` : ''}`,
      {
        hint: 'choose a --point-in-time inside a window (see `lifeboat list`), and run `lifeboat verify` on the target',
      },
    );
  }
  const backup = state.manifests.find((m) => m.id === plan.base.id) as Manifest;
  return {
    target: name,
    backup,
    timeline: plan.timeline,
    pointInTime: request.pointInTime?.toISOString(),
    walFiles: plan.files.length,
    walBytes: plan.files.reduce((sum, f) => sum + f.size, 0),
    baseBytes: backup.artifacts.reduce((sum, a) => sum + a.size, 0),
    window,
    datadir: resolve(request.datadir),
    datadirHasData: await holdsData(request.datadir),
    walNames: [
      ...pathOf(state.archive, plan.timeline, plan.base.segmentSize)
        .steps.filter((step) => step.timeline > 1)
        .map((step) => historyName(step.timeline)),
      ...plan.files.map((file) => file.name),
    ],
  };
}

export async function restoreDatadir(request: DatadirRestoreRequest): Promise<DatadirResult> {
  const started = Date.now();
  const plan = await planDatadirRestore(request);
  const name = request.target.name;
  if (plan.datadirHasData && !request.force && !request.dryRun) {
    throw new LifeboatError('DESTINATION_NOT_EMPTY', `restore ${name}: data directory ${plan.datadir} is not empty`, {
      hint: 'add --force to replace what it holds (stop any server using it first), or choose an empty --to-datadir',
    });
  }
  if (request.dryRun) return { ...plan, restored: false, durationMs: Date.now() - started };
  const artifact = plan.backup.artifacts[0];
  if (artifact === undefined) throw new IntegrityError(`restore ${name}: backup ${plan.backup.id} lists no artifact`);
  const identities = request.encryption?.identities ?? [];
  if (artifact.encryption !== undefined && identities.length === 0) throw missingIdentity(artifact);
  if (existsSync(join(plan.datadir, 'postmaster.pid'))) {
    throw new LifeboatError(
      'DESTINATION_IN_USE',
      `restore ${name}: a server runs on ${plan.datadir} (postmaster.pid)`,
      {
        hint: 'stop that server first',
      },
    );
  }
  const log = request.logger.child({ target: name, id: plan.backup.id, datadir: plan.datadir });
  log.info({ event: 'restore.start', timeline: plan.timeline, pointInTime: plan.pointInTime }, 'restore started');
  await mkdir(plan.datadir, { recursive: true, mode: 0o700 });
  // Before anything is downloaded: the user the server will run as can reach the directory.
  const runAs = request.start ? await serverUser(plan.datadir) : undefined;
  const room = await measureRoom({
    folder: plan.datadir,
    // The WAL the recovery needs joins it in pg_wal when it is staged, each segment whole.
    bytes:
      artifact.rawSize +
      (runAs !== undefined || request.stageWal
        ? plan.walFiles * (plan.backup.wal?.segmentSize ?? DEFAULT_SEGMENT_SIZE)
        : 0),
    why: plan.datadirHasData
      ? 'the base backup is unpacked beside what the directory holds, which stays until the new files proved themselves'
      : 'the base backup is unpacked there',
    hint: 'free space on that file system, or restore into an empty --to-datadir on a larger one',
  });
  ensureRoom(room, `restore ${name}`, `data directory ${plan.datadir} untouched`);
  // The backup is unpacked and proven in a folder of its own inside the data directory, beside what the
  // directory holds: that stays until the new files proved themselves, so a restore that fails (a damaged
  // backup, a wrong key, a store that does not answer, a full disk, SIGTERM) leaves it as it was.
  const staging = join(plan.datadir, `${STAGING}${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(staging, { mode: 0o700 });
    request.onStage?.('download');
    // One pass: the unpacked files are thrown away unless every byte proved itself against the manifest.
    const check = await checkArtifact(request.storage, artifact, {
      identities,
      signal: request.signal,
      onRawBytes: request.onProgress,
      consumeRaw: (raw) => unpack(raw, staging),
    });
    if (!check.ok) {
      throw new IntegrityError(
        `restore ${name}: backup ${plan.backup.id} failed verification: ${check.problems.join('; ')}`,
        'restore from an older base backup (see `lifeboat list`), and run `lifeboat verify`',
      );
    }
    request.onStage?.('verify');
    await verifyFiles(request.target, staging);
    await writeRecoverySettings(plan, request, staging);
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    const said = describeError(error);
    throw new LifeboatError(
      error instanceof LifeboatError ? error.code : 'RESTORE_FAILED',
      `${said.startsWith(`restore ${name}: `) ? '' : `restore ${name}: `}${said}; data directory ${plan.datadir} untouched`,
      {
        cause: error,
        hint: error instanceof LifeboatError ? error.hint : undefined,
        exitCode: error instanceof LifeboatError ? error.exitCode : undefined,
      },
    );
  }
  await swapIn(plan.datadir, staging);
  await chmod(plan.datadir, 0o700);
  let server: DatadirResult['server'];
  if (request.start) {
    request.onStage?.('restore');
    // A server run as another user (Lifeboat runs as root) may not read the store or the config: the WAL
    // the plan needs is put into pg_wal first, checked as wal-fetch checks it.
    if (runAs !== undefined || request.stageWal) await stageWal(plan, request);
    if (runAs !== undefined) await chownTree(plan.datadir, runAs);
    server = await startRecovered(plan, request, runAs);
  }
  const durationMs = Date.now() - started;
  log.info({ event: 'restore.end', result: 'success', durationMs }, 'restore finished');
  return { ...plan, restored: true, durationMs, server };
}

/** Unpacks a tar stream into `dir`; resolves once every file is written. Paths cannot leave `dir`. */
function unpack(raw: Readable, dir: string): Promise<void> {
  return new Promise((resolveUnpack, reject) => {
    const unpacker = extract({ cwd: dir, strict: true });
    unpacker.once('close', () => resolveUnpack());
    unpacker.once('error', reject);
    raw.once('error', (error) => {
      unpacker.abort(error);
      reject(error);
    });
    raw.pipe(unpacker);
  });
}

/** The folder, inside the data directory, where a restore unpacks and proves the backup. */
const STAGING = '.lifeboat-restore-';

/**
 * Puts the proven files of `staging` in the place of what `dir` held: what it held goes aside first (into a
 * folder of its own there, removed at the end), then the new files come up. Renames within one file system
 * (a data directory that is a mount point stays one), so the data directory is a mix of old and new for
 * moments only; if a rename fails, the error says where each part is.
 */
async function swapIn(dir: string, staging: string): Promise<void> {
  const aside = join(dir, `.lifeboat-replaced-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(aside, { mode: 0o700 });
    for (const entry of await readdir(dir)) {
      if (entry !== basename(staging) && entry !== basename(aside)) await rename(join(dir, entry), join(aside, entry));
    }
    for (const entry of await readdir(staging)) await rename(join(staging, entry), join(dir, entry));
  } catch (error) {
    throw new LifeboatError(
      'RESTORE_FAILED',
      `restore: put the restored files in place in ${dir}: ${describeError(error)}; what it held is in ${aside}, the restored files that did not move are in ${staging}`,
      { cause: error, hint: 'move them by hand, or empty the data directory and restore again' },
    );
  }
  await rm(staging, { recursive: true, force: true });
  await rm(aside, { recursive: true, force: true });
}

async function holdsData(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new LifeboatError('DESTINATION', `restore: read data directory ${dir}: ${describeError(error)}`);
  }
}

/** pg_verifybackup checks every file against the backup's own manifest (CRC32C), before any server reads it. */
async function verifyFiles(target: PostgresTargetConfig, datadir: string): Promise<void> {
  const tool = runTool('restore', toolPath('pg_verifybackup', target.binDir), ['--no-parse-wal', '--quiet', datadir], {
    name: 'pg_verifybackup',
  });
  await tool.exited.catch((error: unknown) => {
    throw new IntegrityError(
      `restore ${target.name}: the unpacked base backup does not match its backup_manifest: ${describeError(error)}`,
    );
  });
}

/** Single-quoted for a POSIX shell (restore_command runs in one). */
function shellQuote(arg: string): string {
  if (/[\n\r\0]/.test(arg))
    throw new LifeboatError('USAGE', `restore: ${JSON.stringify(arg)} cannot be part of restore_command`);
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A postgresql.conf string value. */
function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** recovery_target_time in the form PostgreSQL reads in any TimeZone setting. */
export function recoveryTime(iso: string): string {
  const at = new Date(iso);
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

/** The recovery settings, written into `dir` (the unpacked backup, before it takes the data directory's place). */
async function writeRecoverySettings(plan: DatadirPlan, request: DatadirRestoreRequest, dir: string): Promise<void> {
  const restoreCommand = [...request.fetchCommand, 'wal-fetch', plan.target].map(shellQuote).join(' ');
  const lines = [
    '',
    `# lifeboat restore: base backup ${plan.backup.id}, ${plan.pointInTime ?? 'to the end of the archived WAL'}`,
    `restore_command = ${confQuote(`${restoreCommand} %f %p`)}`,
    ...(plan.pointInTime === undefined ? [] : [`recovery_target_time = ${confQuote(recoveryTime(plan.pointInTime))}`]),
    `recovery_target_timeline = ${confQuote(String(plan.timeline))}`,
    "recovery_target_action = 'promote'",
    '',
  ];
  await appendFile(join(dir, 'postgresql.auto.conf'), lines.join('\n'));
  await writeFile(join(dir, 'recovery.signal'), '');
  // A cluster whose configuration lived outside its data directory (Debian's layout) starts on defaults.
  if (!existsSync(join(dir, 'postgresql.conf'))) {
    await writeFile(
      join(dir, 'postgresql.conf'),
      '# written by lifeboat restore: the original lived outside the data directory\n',
    );
  }
}

async function stageWal(plan: DatadirPlan, request: DatadirRestoreRequest): Promise<void> {
  const identities = request.encryption?.identities;
  for (const name of plan.walNames) {
    const dest = join(plan.datadir, 'pg_wal', name);
    const { check } = await fetchNewest(request.storage, plan.target, name, dest, identities, request.signal);
    if (check === undefined) continue;
    if (!check.ok) {
      throw new IntegrityError(`restore ${plan.target}: WAL ${name} failed verification: ${check.problems.join('; ')}`);
    }
  }
}

/** PostgreSQL refuses to run as root: as root, the server runs as the "postgres" user, who gets the files. */
async function serverUser(datadir: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let ids: { uid: number; gid: number };
  try {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    };
  } catch {
    throw new LifeboatError(
      'DESTINATION_OWNER',
      'restore --start: running as root needs a "postgres" user to run the server as',
      {
        hint: 'run lifeboat as the user that owns the data directory, or create the postgres user',
      },
    );
  }
  // Every folder above the data directory must let that user through, or the server cannot start.
  for (let dir = dirname(datadir); ; dir = dirname(dir)) {
    const info = await stat(dir);
    const through =
      (info.mode & 0o001) !== 0 ||
      (info.uid === ids.uid && (info.mode & 0o100) !== 0) ||
      (info.gid === ids.gid && (info.mode & 0o010) !== 0);
    if (!through) {
      throw new LifeboatError(
        'DESTINATION_OWNER',
        `restore --start: the server runs as "postgres", which cannot reach ${datadir}: ${dir} is mode ${(info.mode & 0o777).toString(8)}`,
        { hint: `choose a data directory the postgres user can reach, or chmod o+x ${dir}` },
      );
    }
    if (dir === dirname(dir)) break;
  }
  return ids;
}

async function chownTree(path: string, ids: { uid: number; gid: number }): Promise<void> {
  await chown(path, ids.uid, ids.gid);
  if ((await lstat(path)).isDirectory())
    for (const entry of await readdir(path)) await chownTree(join(path, entry), ids);
}

async function startRecovered(
  plan: DatadirPlan,
  request: DatadirRestoreRequest,
  ids: { uid: number; gid: number } | undefined,
): Promise<DatadirResult['server']> {
  const port = await freePort();
  const logPath = join(plan.datadir, 'lifeboat-recovery.log');
  const logFd = openSync(logPath, 'a', 0o600);
  if (ids !== undefined) await chown(logPath, ids.uid, ids.gid);
  const postgres = toolPath('postgres', request.target.binDir);
  const child: ChildProcess = spawn(
    postgres,
    [
      '-D',
      plan.datadir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${plan.datadir}`,
      '-c',
      'archive_mode=off',
    ],
    // restore_command runs Lifeboat, which needs this process's settings (the store's credentials).
    { detached: true, stdio: ['ignore', logFd, logFd], env: process.env, ...(ids ?? {}) },
  );
  child.unref();
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  child.once('error', () => undefined);
  const connection: PgConnection = { ...connectionFromConfig(request.target), host: '127.0.0.1', port };
  const deadline = Date.now() + (request.startTimeoutMs ?? 30 * 60_000);
  for (;;) {
    const gone = await Promise.race([
      exited.then((code) => ({ code })),
      new Promise((r) => setTimeout(r, 500, undefined)),
    ]);
    if (gone !== undefined) {
      const tail = await readFile(logPath, 'utf8').catch(() => '');
      const lines = tail
        .trim()
        .split('\n')
        .filter((l) => /FATAL|PANIC|ERROR/.test(l))
        .slice(-3)
        .join(' | ');
      throw new LifeboatError(
        'RESTORE_FAILED',
        `restore ${plan.target}: the recovering server exited: ${lines || 'see its log'}`,
        {
          hint: `its log: ${logPath}`,
        },
      );
    }
    try {
      const inRecovery = await withClient(
        { ...connection, database: 'postgres' },
        async (client) => (await client.query('SELECT pg_is_in_recovery() AS r')).rows[0].r as boolean,
      );
      if (!inRecovery) break;
    } catch {
      // Not accepting connections yet (starting up, or replaying to the consistent point).
    }
    if (Date.now() > deadline) {
      child.kill('SIGINT');
      throw new LifeboatError('TIMEOUT', `restore ${plan.target}: the recovery did not finish in time`, {
        hint: `its log: ${logPath}`,
      });
    }
    request.signal?.throwIfAborted();
  }
  return { url: `postgres://${connection.user}@127.0.0.1:${port}/`, pid: child.pid as number, log: logPath };
}

/** Stops a server that `--start` started (tests, drills). */
export async function stopRecovered(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let waited = 0; waited < 60_000; waited += 100) {
    if (!processAlive(pid)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, 'SIGKILL');
}
