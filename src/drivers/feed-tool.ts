// A restore tool reading the backup from its stdin (pg_restore, psql, neo4j-admin in a process or a one-off
// container): the input streamed in, and one verdict from the input's fate and the tool's exit.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError, LifeboatError } from '../errors.js';
import type { ToolProcess } from './run-tool.js';

/** A running tool that reads from its stdin. */
export interface FedTool {
  readonly stdin: Writable | null;
  /** Resolves when the tool exits 0; rejects with its error otherwise. */
  readonly exited: Promise<void>;
  /** Stops the tool (it then exits non-zero, and what it wrote is rolled back or thrown away). */
  kill(): void;
  /** False once the tool has exited, when that is known before `exited` settles (a local process's exit code). */
  alive?(): boolean;
}

/** A local process as a FedTool: SIGTERM stops it, and its exit code tells it has gone. */
export function fedProcess(tool: ToolProcess): FedTool {
  const { child } = tool;
  return {
    stdin: child.stdin,
    exited: tool.exited,
    kill: () => child.kill('SIGTERM'),
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

export interface FeedOptions {
  /** The driver, first word of every message ("postgres"). */
  readonly driver: string;
  /** The tool's name in messages ("pg_restore"). */
  readonly name: string;
  /** What a tool stopped half way leaves behind, for the message ("its transaction rolled back"). */
  readonly stopped: string;
  readonly signal?: AbortSignal;
  /** The tool's own failure as the caller reports it (default: as it is). */
  readonly toolError?: (error: unknown) => unknown;
}

/**
 * Streams `raw` into the tool's stdin. When the input fails (a download error, bytes that did not prove
 * themselves) the tool is stopped at once: it must not go on with part of a backup, nor sit holding the
 * destination; so it is on an abort, whether or not it has read the whole backup. A stdin that breaks, or
 * that the tool leaves by exiting, is the tool's doing, not the input's: its exit says why, and a tool that
 * exits 0 before it read the whole backup fails the restore too (what it restored was never proven against
 * the manifest).
 */
export async function feedTool(tool: FedTool, raw: Readable, options: FeedOptions): Promise<void> {
  const stdin = tool.stdin;
  if (stdin === null) throw new Error(`${options.driver}: ${options.name} has no stdin`);
  let running = true;
  let inputFailed = false;
  let toolLeft = false;
  const exited = tool.exited.finally(() => {
    running = false;
    // A tool that has exited reads nothing more: bytes still waiting for it are let go of (a container's
    // stdin would otherwise hold them, and the write would never end).
    if (!stdin.writableFinished) stdin.destroy();
  });
  const writing = pipeline(raw, stdin, { signal: options.signal }).catch((error: unknown) => {
    toolLeft = !running || tool.alive?.() === false || (error as NodeJS.ErrnoException).code === 'EPIPE';
    if (!toolLeft) {
      inputFailed = true;
      tool.kill();
    }
    throw error;
  });
  // An abort stops the tool even once it has read the whole backup (an index build, a store's last steps):
  // a stop asked for (SIGTERM from the operator or the container engine) must not wait for it.
  const onAbort = () => {
    if (running) tool.kill();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const [wrote, ended] = await Promise.allSettled([writing, exited]).finally(() =>
    options.signal?.removeEventListener('abort', onAbort),
  );
  // The input's failure is the cause when it made Lifeboat stop the tool; otherwise the tool's own error
  // (its stdin then closes early, which is only a consequence).
  if (inputFailed && wrote.status === 'rejected') {
    throw new LifeboatError(
      'RESTORE_INPUT',
      `${options.driver}: restore stopped, ${options.stopped}: ${describeError(wrote.reason)}`,
      { cause: wrote.reason },
    );
  }
  if (ended.status === 'rejected') throw (options.toolError ?? ((error) => error))(ended.reason);
  if (toolLeft && wrote.status === 'rejected') {
    throw new LifeboatError(
      'RESTORE_INPUT',
      `${options.driver}: ${options.name} exited before it had read the whole backup; what it restored is not proven against the manifest`,
      { cause: wrote.reason, hint: 'drop the destination and restore again' },
    );
  }
  if (wrote.status === 'rejected') throw wrote.reason;
}
