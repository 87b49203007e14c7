// Continuous WAL archiving of a physical target: pg_receivewal on a replication slot writes segments into a
// small local spool; each finished segment (and history file) is shipped to the store and then removed from
// the spool, and the segment being written is shipped as it stands every `partialInterval`.

import { mkdirSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { parseDuration } from '../config/duration.js';
import type { PostgresTargetConfig } from '../config/schema.js';
import { walSlot } from '../drivers/postgres/config.js';
import { connect, connectionFromConfig, describeConnection, libpqEnv } from '../drivers/postgres/connection.js';
import { runTool, type ToolProcess, toolPath } from '../drivers/run-tool.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { processAlive } from '../work-dir.js';
import { deleteWalFiles, extendCoverage, findEntry, shipWalFile, type WalEntry, walFileKind } from './archive.js';
import { DEFAULT_SEGMENT_SIZE, parseLsn, parseSegmentName } from './segment.js';
import { ensureSlot } from './slot.js';

/** What the archiver reports to the metrics. */
export interface WalMetricsSink {
  recordWalShipped(target: string, coveredUntil: number, storedBytes: number): void;
  recordWalFailure(target: string): void;
  setWalSlotRetained(target: string, bytes: number): void;
  setWalReceiverUp(target: string, up: boolean): void;
}

export interface WalArchiverOptions {
  readonly target: PostgresTargetConfig;
  readonly storage: Storage;
  readonly logger: Logger;
  readonly recipients?: readonly string[];
  readonly metrics?: WalMetricsSink;
  /** How often the spool is looked at (default 1 s). */
  readonly pollMs?: number;
}

const PID_FILE = 'lifeboat-receivewal.pid';

/** The spool folder of a physical target. */
export function spoolDir(target: PostgresTargetConfig): string {
  return target.wal.spool ?? join(tmpdir(), 'lifeboat-wal', target.name);
}

export class WalArchiver {
  readonly #options: WalArchiverOptions;
  readonly #target: PostgresTargetConfig;
  readonly #spool: string;
  readonly #log: Logger;
  readonly #partialMs: number;
  #receiver: ToolProcess | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #backoffMs = 1000;
  #segmentSize = DEFAULT_SEGMENT_SIZE;
  #shipping: Promise<void> = Promise.resolve();
  #partialShipped = new Map<string, { mtimeMs: number; entry: WalEntry }>();
  #lastPartialAt = 0;
  #lastSlotCheck = 0;
  #warnedRetained = false;
  /** The server's flush position over time: (local time before asking, position), oldest first. */
  readonly #flushed: { at: number; lsn: number }[] = [];
  /** Coverage never moves back: a file is claimed to cover at least what the one before it did. */
  #covered = 0;
  #client: pg.Client | undefined;

  constructor(options: WalArchiverOptions) {
    this.#options = options;
    this.#target = options.target;
    this.#spool = spoolDir(options.target);
    this.#log = options.logger.child({ target: options.target.name, component: 'wal' });
    this.#partialMs = parseDuration(options.target.wal.partialInterval);
  }

  /** Creates the slot when missing, starts pg_receivewal and the shipping loop. */
  async start(): Promise<void> {
    mkdirSync(this.#spool, { recursive: true, mode: 0o700 });
    this.#options.metrics?.setWalReceiverUp(this.#target.name, false);
    await this.#stopStaleReceiver();
    await this.#prepare().catch((error: unknown) => {
      // The server may be down at start: the receiver keeps trying, and says why.
      this.#log.error({ event: 'wal.prepare-failed', error: describeError(error) }, 'WAL archiving cannot start yet');
    });
    this.#spawn();
    this.#timer = setInterval(() => this.#tick(), this.#options.pollMs ?? 1000);
  }

  /** Stops pg_receivewal, ships what it finished, and stops. The slot stays: archiving resumes from it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const receiver = this.#receiver;
    if (receiver !== undefined) {
      receiver.child.kill('SIGINT');
      await receiver.exited.catch(() => undefined);
    }
    await this.#shipping;
    await this.#shipSpool(true).catch(() => undefined);
    await rm(join(this.#spool, PID_FILE), { force: true });
    await this.#client?.end().catch(() => undefined);
  }

  /** The segment size and the slot (created on first start, never dropped by Lifeboat). */
  async #prepare(): Promise<void> {
    const size = (await this.#query("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")).rows[0];
    if (size !== undefined) this.#segmentSize = Number(size.setting);
    await ensureSlot(this.#target);
    this.#log.info({ event: 'wal.slot', slot: walSlot(this.#target) }, 'replication slot ready');
  }

  #spawn(): void {
    if (this.#stopped) return;
    const connection = connectionFromConfig(this.#target);
    const receiver = runTool(
      'wal',
      toolPath('pg_receivewal', this.#target.binDir),
      [
        `--directory=${this.#spool}`,
        `--slot=${walSlot(this.#target)}`,
        '--no-loop',
        '--no-password',
        '--status-interval=1',
        '--verbose',
      ],
      { env: libpqEnv(connection), name: 'pg_receivewal', stdout: 'ignore' },
    );
    this.#receiver = receiver;
    const started = Date.now();
    if (receiver.child.pid !== undefined) {
      writeFile(join(this.#spool, PID_FILE), `${receiver.child.pid}\n`).catch(() => undefined);
    }
    this.#options.metrics?.setWalReceiverUp(this.#target.name, true);
    this.#log.info(
      { event: 'wal.receiver.start', server: describeConnection(connection), slot: walSlot(this.#target) },
      'pg_receivewal started',
    );
    receiver.exited.then(
      () => this.#onExit(started, undefined),
      (error: unknown) => this.#onExit(started, error),
    );
  }

  #onExit(started: number, error: unknown): void {
    this.#options.metrics?.setWalReceiverUp(this.#target.name, false);
    this.#receiver = undefined;
    if (this.#stopped) return;
    // A receiver that streamed for a while starts again at once; one that fails at start backs off to 30 s.
    this.#backoffMs = Date.now() - started > 30_000 ? 1000 : Math.min(this.#backoffMs * 2, 30_000);
    this.#log.error(
      {
        event: 'wal.receiver.exit',
        error: error === undefined ? 'exited' : describeError(error),
        retryInMs: this.#backoffMs,
      },
      'pg_receivewal stopped; starting it again',
    );
    this.#restartTimer = setTimeout(async () => {
      await this.#prepare().catch(() => undefined);
      this.#spawn();
    }, this.#backoffMs);
  }

  /** A pg_receivewal left running by a killed daemon still holds the slot: it is stopped first. */
  async #stopStaleReceiver(): Promise<void> {
    const pid = Number((await readFile(join(this.#spool, PID_FILE), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!command.includes('pg_receivewal') || !command.includes(this.#spool)) return;
    this.#log.warn({ event: 'wal.receiver.stale', pid }, 'stopping the pg_receivewal a previous run left behind');
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; waited < 10_000 && processAlive(pid); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  #tick(): void {
    // One pass at a time: a slow store delays the next pass instead of running two.
    this.#shipping = this.#shipping
      .then(() => this.#sampleFlush())
      .then(() => this.#shipSpool(false))
      .then(() => this.#checkSlot())
      .catch((error: unknown) => {
        this.#log.error({ event: 'wal.ship-failed', error: describeError(error) }, 'WAL shipping failed');
      });
  }

  async #query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    if (this.#client === undefined) this.#client = await connect(connectionFromConfig(this.#target));
    try {
      return await this.#client.query(sql, params);
    } catch (error) {
      await this.#client.end().catch(() => undefined);
      this.#client = undefined;
      throw error;
    }
  }

  /**
   * Notes where the server's WAL ends now. Every commit made before `at` has its WAL at or before `lsn`, so
   * once the archive holds WAL up to `lsn`, it covers every commit before `at`: times come from positions,
   * never from when a file was written (a receiver catching up writes old WAL late).
   */
  async #sampleFlush(): Promise<void> {
    const at = Date.now();
    // A server that does not answer gives no sample: files still ship, their times do not move on.
    const row = (await this.#query('SELECT pg_current_wal_flush_lsn()::text AS lsn').catch(() => undefined))?.rows[0];
    if (row === undefined) return;
    this.#flushed.push({ at, lsn: parseLsn(row.lsn) });
    // An hour of samples is plenty: a file that old is shipped long before.
    if (this.#flushed.length > 3600) this.#flushed.splice(0, this.#flushed.length - 3600);
  }

  /**
   * The time an archive holding WAL up to `lsn` covers (at least the previous file's). Samples come in time and
   * position order, and coverage never moves back: the ones it passed are dropped.
   */
  #coverage(lsn: number): Date {
    while (this.#flushed.length > 0 && (this.#flushed[0] as { lsn: number }).lsn <= lsn) {
      this.#covered = Math.max(this.#covered, (this.#flushed.shift() as { at: number }).at);
    }
    return new Date(this.#covered);
  }

  /** Where the receiver has written to, as it last told the server (its file holds at least that much). */
  async #receivedLsn(): Promise<number | undefined> {
    const row = (
      await this.#query(
        'SELECT r.write_lsn::text AS lsn FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1',
        [walSlot(this.#target)],
      ).catch(() => undefined)
    )?.rows[0];
    return row?.lsn === null || row?.lsn === undefined ? undefined : parseLsn(row.lsn);
  }

  /** Ships one file of the spool and counts it. */
  async #ship(path: string, name: string, kind: WalEntry['kind'], coveredUntil: Date): Promise<WalEntry> {
    const entry = await shipWalFile({
      storage: this.#options.storage,
      target: this.#target.name,
      path,
      name,
      kind,
      segmentSize: this.#segmentSize,
      coveredUntil,
      recipients: this.#options.recipients,
    });
    this.#options.metrics?.recordWalShipped(this.#target.name, coveredUntil.getTime(), entry.artifact.size);
    return entry;
  }

  /** Ships every finished file of the spool, oldest first, and the partial segment when it is due. */
  async #shipSpool(final: boolean): Promise<void> {
    const names = (await readdir(this.#spool)).sort();
    const target = this.#target.name;
    for (const fileName of names) {
      const kind = walFileKind(fileName);
      if (kind === undefined || kind.kind === 'partial') continue;
      const path = join(this.#spool, fileName);
      if ((await stat(path).catch(() => undefined)) === undefined) continue;
      const parsed = parseSegmentName(kind.name, this.#segmentSize);
      // A whole segment holds the WAL up to its end; a history file says nothing of time.
      const coveredUntil =
        parsed === undefined ? new Date(this.#covered) : this.#coverage((parsed.segment + 1) * this.#segmentSize);
      try {
        await this.#ship(path, kind.name, kind.kind, coveredUntil);
        await rm(path, { force: true });
        if (kind.kind === 'segment') {
          // The whole segment supersedes its partial copy in the store (one a previous run may have shipped).
          const partial = await findEntry(this.#options.storage, target, kind.name, 'partial').catch(() => undefined);
          if (partial !== undefined)
            await deleteWalFiles(this.#options.storage, target, [partial]).catch(() => undefined);
          this.#partialShipped.delete(kind.name);
        }
        this.#log.debug({ event: 'wal.shipped', name: kind.name, kind: kind.kind }, 'WAL file archived');
      } catch (error) {
        this.#options.metrics?.recordWalFailure(target);
        throw error;
      }
    }
    const now = Date.now();
    if (!final && now - this.#lastPartialAt < this.#partialMs) return;
    this.#lastPartialAt = now;
    for (const fileName of names) {
      const kind = walFileKind(fileName);
      if (kind?.kind !== 'partial') continue;
      const path = join(this.#spool, fileName);
      // Asked before the file is read: what the receiver reported written is in what is read.
      const received = await this.#receivedLsn();
      const parsed = parseSegmentName(kind.name, this.#segmentSize);
      const segmentEnd = parsed === undefined ? 0 : (parsed.segment + 1) * this.#segmentSize;
      const coveredUntil =
        received === undefined ? new Date(this.#covered) : this.#coverage(Math.min(received, segmentEnd));
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) continue;
      const shipped = this.#partialShipped.get(kind.name);
      if (shipped?.mtimeMs === info.mtimeMs) {
        if (Date.parse(shipped.entry.coveredUntil) >= coveredUntil.getTime()) continue;
        // Nothing written since (an idle server): only the time it covers moves on.
        const entry = await extendCoverage(this.#options.storage, target, shipped.entry, coveredUntil);
        this.#partialShipped.set(kind.name, { mtimeMs: info.mtimeMs, entry });
        this.#options.metrics?.recordWalShipped(target, coveredUntil.getTime(), 0);
        continue;
      }
      try {
        const entry = await this.#ship(path, kind.name, 'partial', coveredUntil);
        this.#partialShipped.set(kind.name, { mtimeMs: info.mtimeMs, entry });
      } catch (error) {
        // Renamed to its final name meanwhile: the next pass ships the whole segment.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.#options.metrics?.recordWalFailure(target);
        throw error;
      }
    }
  }

  /** Every 10 s: how much WAL the slot holds back on the server, with a warning above the threshold. */
  async #checkSlot(): Promise<void> {
    if (Date.now() - this.#lastSlotCheck < 10_000) return;
    this.#lastSlotCheck = Date.now();
    {
      const row = (
        await this.#query(
          'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained FROM pg_replication_slots WHERE slot_name = $1',
          [walSlot(this.#target)],
        )
      ).rows[0];
      if (row === undefined) return;
      const retained = Number(row.retained ?? 0);
      this.#options.metrics?.setWalSlotRetained(this.#target.name, retained);
      const over = retained > this.#target.wal.retainedWarning;
      if (over && !this.#warnedRetained) {
        this.#log.warn(
          { event: 'wal.slot.retained', slot: walSlot(this.#target), retainedBytes: retained },
          `replication slot ${walSlot(this.#target)} holds ${retained} bytes of WAL on the server: archiving is behind`,
        );
      }
      this.#warnedRetained = over;
    }
  }
}
