// A physical base backup: pg_basebackup's tar, streamed to stdout (no copy of the cluster on disk), read on its
// way through so that the backup's own manifest tells where its WAL starts and ends.
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import type { PostgresTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { formatLsn, parseLsn, segmentName, segmentOf } from '../../wal/segment.js';
import { ensureSlot } from '../../wal/slot.js';
import type { DumpSession, WalRange } from '../driver.js';
import { runTool, toolOutput, toolPath } from '../run-tool.js';
import { connectionFromConfig, libpqEnv, withClient } from './connection.js';
import { refuseUnfinishedRestore } from './restore-mark.js';

/** Starts `pg_basebackup -D - -Ft -X none`: the WAL comes from the archive, as for any other recovery. */
export async function startBaseBackup(config: PostgresTargetConfig): Promise<DumpSession> {
  const connection = connectionFromConfig(config);
  const command = toolPath('pg_basebackup', config.binDir);
  const version = (await toolOutput('postgres', command, ['--version'])).trim();
  const { row, databases } = await withClient(connection, async (client) => ({
    row: (
      await client.query(
        "SELECT (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS size, version() AS version, current_setting('server_version_num') AS num",
      )
    ).rows[0],
    databases: (
      await client.query("SELECT datname AS name, shobj_description(oid, 'pg_database') AS comment FROM pg_database")
    ).rows as { name: string; comment: string | null }[],
  }));
  // Every database of the cluster goes into a base backup: none may be one a restore left half done.
  refuseUnfinishedRestore(databases);
  // The WAL from the backup's start on must reach the archive: with the daemon streaming it, the slot keeps it
  // on the server until then, even when this backup runs before the daemon first started.
  if (config.wal.receive) await ensureSlot(config);
  const segmentSize = Number(row.size);
  const server = { version: row.version as string, num: Number(row.num) };
  const tool = runTool(
    'postgres',
    command,
    ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', `--label=lifeboat ${config.name}`],
    { env: libpqEnv(connection), name: 'pg_basebackup', priority: config.priority, stdoutBuffer: true },
  );
  const inspector = new BaseTarInspector();
  const stream = (tool.child.stdout as Readable).pipe(inspector);
  (tool.child.stdout as Readable).once('error', (error) => inspector.destroy(error));
  let range: WalRange | undefined;
  let finishedAt = new Date();
  const done = Promise.all([tool.exited, inspector.result]).then(async ([, found]) => {
    const wal = found.walRanges;
    const first = wal[0];
    const last = wal[wal.length - 1];
    if (first === undefined || last === undefined) {
      throw new LifeboatError('DUMP_INCOMPLETE', 'postgres: pg_basebackup: its backup_manifest names no WAL range', {
        hint: 'use pg_basebackup 13 or newer (it writes backup_manifest)',
      });
    }
    const startLsn = parseLsn(first.start);
    const endLsn = parseLsn(last.end);
    range = {
      timeline: last.timeline,
      startLsn: formatLsn(startLsn),
      endLsn: formatLsn(endLsn),
      segmentSize,
      firstSegment: segmentName(first.timeline, segmentOf(startLsn, segmentSize), segmentSize),
      lastSegment: segmentName(last.timeline, segmentOf(Math.max(endLsn - 1, startLsn), segmentSize), segmentSize),
    };
    // Consistent once the backup ended: the earliest time it can be recovered to (the server's clock, as the
    // commit times recovery compares against).
    finishedAt = await withClient(
      connection,
      async (client) => new Date((await client.query('SELECT now() AS at')).rows[0].at),
    );
  });
  done.catch(() => undefined);
  return {
    stream,
    fileName: 'base.tar',
    format: 'pg_basebackup-tar',
    get snapshotAt() {
      return finishedAt;
    },
    get wal() {
      return range;
    },
    source: { serverVersion: server.version, serverVersionNum: server.num, pgBasebackup: version, method: 'physical' },
    stats: {},
    done,
    abort: () => tool.child.kill('SIGTERM'),
  };
}

/** What the inspector found in the tar: its manifest's WAL ranges. */
interface TarFindings {
  readonly walRanges: { timeline: number; start: string; end: string }[];
}

/**
 * Passes the tar through untouched and parses it on the side: the stream is whole only when the tar parses to
 * its end, holds backup_label and ends with backup_manifest (pg_basebackup writes it last).
 */
class BaseTarInspector extends Transform {
  readonly result: Promise<TarFindings>;
  readonly #parser: Parser;
  readonly #manifest: Buffer[] = [];
  #sawLabel = false;
  #last = '';
  #resolve: (found: TarFindings) => void = () => undefined;
  #reject: (error: unknown) => void = () => undefined;

  constructor() {
    super();
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(() => undefined);
    this.#parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        this.#last = entry.path;
        if (entry.path === 'backup_label') this.#sawLabel = true;
        if (entry.path === 'backup_manifest') {
          entry.on('data', (chunk: Buffer) => {
            this.#manifest.push(chunk);
          });
        } else entry.resume();
      },
    });
    this.#parser.on('error', (error: Error) => this.#reject(incomplete(`the tar does not parse (${error.message})`)));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#parser.write(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#parser.end(() => {
      try {
        if (!this.#sawLabel) throw incomplete('the tar holds no backup_label');
        if (this.#last !== 'backup_manifest')
          throw incomplete(`the tar ends with ${this.#last || 'nothing'}, not backup_manifest`);
        const parsed = JSON.parse(Buffer.concat(this.#manifest).toString('utf8')) as {
          'WAL-Ranges'?: Record<string, unknown>[];
        };
        const ranges = (parsed['WAL-Ranges'] ?? []).map((r) => ({
          timeline: Number(r.Timeline),
          start: String(r['Start-LSN']),
          end: String(r['End-LSN']),
        }));
        this.#resolve({ walRanges: ranges });
      } catch (error) {
        this.#reject(error instanceof LifeboatError ? error : incomplete(`its backup_manifest is not JSON`));
      }
    });
    callback();
  }
}

function incomplete(detail: string): LifeboatError {
  return new LifeboatError('DUMP_INCOMPLETE', `postgres: pg_basebackup: the base backup is not whole: ${detail}`, {
    hint: 'check pg_basebackup (binDir) and the connection; the backups before this one are untouched',
  });
}
