// pg_dump exiting 0 is not proof of a whole dump (a wrapper, a proxy, a full pipe can cut it short): its
// bytes are checked as they flow to storage, and the rows of each table counted on the way.
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { describeError, LifeboatError } from '../../errors.js';
import { runTool } from '../run-tool.js';
import { CopyRowCounter } from './copy-count.js';
import { ArchiveDefect, ArchiveUnsupported, CustomArchiveReader } from './custom-archive.js';

/** The dump's bytes passed on, and a promise that rejects when they turn out not to be a whole dump. */
export interface Completeness {
  readonly stream: Readable;
  readonly whole: Promise<void>;
  /** Rows per table in the dump, by "schema.name", known once `whole` resolved. */
  readonly counts: () => ReadonlyMap<string, number>;
  stop(): void;
}

const CHECK_HINT =
  'check pg_dump (binDir), and what sits between it and Lifeboat; the backups before this one are untouched';

function notWhole(reason: string, cause?: unknown): LifeboatError {
  return new LifeboatError(
    'DUMP_INCOMPLETE',
    `postgres: pg_dump exited 0, but its output is not a whole custom-format archive: ${reason}`,
    { cause, hint: CHECK_HINT },
  );
}

/** A promise with its settling functions, for checks that end inside stream callbacks (never unhandled). */
function settleable(): PromiseWithResolvers<void> {
  const settled = Promise.withResolvers<void>();
  settled.promise.catch(() => undefined);
  return settled;
}

/**
 * Reads the custom-format archive as it flows (CustomArchiveReader): its table of contents, every data
 * block it promises, and the rows of each table. An archive whose layout that reader does not know (a
 * newer pg_dump, data compressed by pg_dump through extraDumpArgs) is fed instead to
 * `pg_restore --file=- --data-only`, which reads every entry and fails on a cut-off archive.
 */
export function checkArchive(source: Readable, pgRestore: string): Completeness {
  const reader = new CustomArchiveReader();
  const verdict = settleable();
  /** The bytes read while the head is not yet known: a tool that takes over must see them too. */
  let head: Buffer[] | undefined = [];
  let tool: ToolCheck | undefined;
  let failed = false;
  /** pg_restore takes over the check, from the first byte. */
  const handOver = (): ToolCheck => {
    const check = toolCheck(pgRestore, verdict);
    for (const part of head ?? []) check.write(part, () => undefined);
    head = undefined;
    return check;
  };
  const refuse = (error: unknown) =>
    verdict.reject(error instanceof ArchiveDefect ? notWhole(error.message, error) : error);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (tool !== undefined) return tool.write(chunk, () => callback(null, chunk));
      if (!failed) {
        try {
          reader.push(chunk);
          if (reader.headRead) head = undefined;
          else head?.push(chunk);
        } catch (error) {
          if (error instanceof ArchiveUnsupported) {
            tool = handOver();
            return tool.write(chunk, () => callback(null, chunk));
          }
          failed = true;
          head = undefined;
          refuse(error);
        }
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (tool === undefined && !failed) {
        try {
          reader.end();
          verdict.resolve();
        } catch (error) {
          // An archive too small to have been read before its end.
          if (error instanceof ArchiveUnsupported) tool = handOver();
          else refuse(error);
        }
      }
      head = undefined;
      tool?.end();
      callback();
    },
  });
  source.once('error', (error) => stream.destroy(error));
  source.pipe(stream);
  return {
    stream,
    whole: verdict.promise,
    counts: () => tool?.rows.counts ?? reader.counts,
    stop: () => {
      tool?.stop();
      verdict.reject(new Error('the archive check was stopped'));
    },
  };
}

interface ToolCheck {
  readonly rows: CopyRowCounter;
  /** Passes `chunk` on; `done` runs once the tool took it (or is gone). */
  write(chunk: Buffer, done: () => void): void;
  end(): void;
  stop(): void;
}

/** `pg_restore --file=-` reading the archive from its stdin; the SQL it writes is read only to count rows. */
function toolCheck(pgRestore: string, verdict: ReturnType<typeof settleable>): ToolCheck {
  const checker = runTool('postgres', pgRestore, ['--file=-', '--data-only'], {
    stdin: 'pipe',
    stdout: 'pipe',
    name: 'pg_restore (archive check)',
  });
  const rows = new CopyRowCounter();
  checker.child.stdout?.on('data', (chunk: Buffer) => rows.push(chunk));
  const stdin = checker.child.stdin as NodeJS.WritableStream;
  let gone = false;
  const release: (() => void)[] = [];
  stdin.on('error', () => undefined);
  checker.child.once('close', () => {
    gone = true;
    for (const resume of release.splice(0)) resume();
  });
  checker.exited.then(verdict.resolve, (error: unknown) =>
    verdict.reject(notWhole(describeError(error).replace(/^postgres: /, ''), error)),
  );
  return {
    rows,
    write(chunk, done) {
      if (gone || stdin.write(chunk)) return done();
      release.push(done);
      stdin.once('drain', () => {
        const index = release.indexOf(done);
        if (index >= 0) release.splice(index, 1)[0]?.();
      });
    },
    end: () => {
      if (!gone) stdin.end();
    },
    stop: () => checker.child.kill('SIGTERM'),
  };
}

/** A plain-format dump ends with pg_dump's own last line: its absence means the dump was cut short. */
export function checkPlainEnd(source: Readable): Completeness {
  let tail = '';
  const verdict = settleable();
  const rows = new CopyRowCounter();
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      tail = (tail + chunk.toString('latin1')).slice(-512);
      rows.push(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      if (tail.includes('-- PostgreSQL database dump complete')) verdict.resolve();
      else {
        verdict.reject(
          new LifeboatError(
            'DUMP_INCOMPLETE',
            'postgres: pg_dump exited 0, but its plain-format output lacks the closing "-- PostgreSQL database dump complete" line',
            { hint: CHECK_HINT },
          ),
        );
      }
      callback();
    },
  });
  source.once('error', (error) => stream.destroy(error));
  source.pipe(stream);
  return { stream, whole: verdict.promise, counts: () => rows.counts, stop: () => undefined };
}
