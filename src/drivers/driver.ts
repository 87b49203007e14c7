// The driver interface: how a database is dumped, restored and checked. Drivers know nothing of storage.
import type { Readable } from 'node:stream';
import type { TableStats } from '../catalog/manifest.js';
import { describeError, LifeboatError } from '../errors.js';

/** Where a physical base backup's WAL starts and ends (recorded in its manifest). */
export interface WalRange {
  readonly timeline: number;
  readonly startLsn: string;
  readonly endLsn: string;
  readonly segmentSize: number;
  /** The first and last WAL segment the backup needs to become consistent. */
  readonly firstSegment: string;
  readonly lastSegment: string;
}

/** A dump in progress. */
export interface DumpSession {
  /** The raw dump bytes. */
  readonly stream: Readable;
  /** Artifact file name, e.g. "database.sqlite3" or "dump.pgcustom". */
  readonly fileName: string;
  /** Format recorded in the manifest, e.g. "sqlite3" or "pg_dump-custom". */
  readonly format: string;
  /** The instant the dumped data reflects. */
  readonly snapshotAt: Date;
  /** Server or library version, database name. */
  readonly source: Readonly<Record<string, unknown>>;
  /**
   * Tables and row counts at the snapshot (none for a physical backup of a whole cluster); a driver that counts
   * while it dumps fills `tables` before `done` resolves.
   */
  readonly stats: { tables?: TableStats[] } & Record<string, unknown>;
  /** A physical backup's WAL range, known once `done` resolved. */
  readonly wal?: WalRange;
  /** True when the dump tool compresses its output itself: it is stored as is, not gzipped again. */
  readonly compressed?: boolean;
  /** Resolves once the dump tool has exited cleanly; rejects with its error output otherwise. */
  readonly done: Promise<void>;
  /** Stops the dump and releases everything it holds. */
  abort(): void;
}

/** The log event of a restore's notice. */
export type RestoreNoticeEvent = 'restore.waiting' | 'restore.unmarked';

export interface RestoreOptions {
  /** Replace a destination that already holds data. */
  readonly force: boolean;
  readonly signal?: AbortSignal;
  /** How long to wait for a lock another session holds on the destination (default 30 s). */
  readonly lockTimeoutMs?: number;
  /**
   * Hears, as a sentence for the operator, what the restore is waiting for (`event` restore.waiting, the
   * default) or what it cannot do that the operator should know of (restore.unmarked).
   */
  readonly onNotice?: (message: string, event?: RestoreNoticeEvent) => void;
  /** What the destination held when the core checked it, just before the restore (restoreInto). */
  readonly found?: DestinationState;
  /**
   * The size of the raw bytes to come (the manifest's): what a restore that decides only once it read their
   * head to land them on local disk first measures the room against.
   */
  readonly rawSize?: number;
}

/**
 * A restore that failed after it changed its destination and could not put it back as it found it. A driver's
 * restore that fails with any other error left its destination as it was (one transaction rolled back, a
 * temporary file thrown away): the core then says nothing was committed; after this one it says `state`.
 */
export class RestoreLeftChanges extends LifeboatError {
  override readonly name = 'RestoreLeftChanges';
  constructor(
    /** What the destination may hold now, with the driver's name first ("postgres: shop may hold ..."). */
    readonly state: string,
    cause: unknown,
    hint: string | undefined,
  ) {
    super('RESTORE_FAILED', `${state}: ${describeError(cause)}`, {
      cause,
      hint,
      exitCode: cause instanceof LifeboatError ? cause.exitCode : undefined,
    });
  }
}

/** Default wait for a destination lock during a restore. */
export const DEFAULT_RESTORE_LOCK_TIMEOUT_MS = 30_000;

/** What a restore destination currently holds. */
export interface DestinationState {
  /** Where the data would go, without secrets, e.g. a file path or host:port/db. */
  readonly description: string;
  readonly hasData: boolean;
  readonly detail: string;
  /** How a restore would load it, where a driver has more than one way (shown by `restore --dry-run`). */
  readonly load?: string;
}

/**
 * Where a restore lands the backup on local disk before it commits it (a new file beside the old one, a dump
 * spooled to the temp folder): the core checks that folder has room before the first byte is downloaded.
 */
export interface Landing {
  readonly folder: string;
  /** Why the bytes land there, for messages: "the restored file is written beside the old one first". */
  readonly why: string;
  readonly hint: string;
}

/** A throwaway restore destination for a drill: empty when created, gone after drop(). */
export interface Scratch {
  /** What restore(), inspectRestored() and queryValue() take as destination (may hold a secret). */
  readonly destination: string;
  /** For messages and reports, without secrets. */
  readonly description: string;
  /** Removes it; safe to call twice. */
  drop(): Promise<void>;
}

/** What a restored copy holds: the driver's integrity problems (none: fine) and its tables with row counts. */
export interface RestoredState {
  /** What the integrity check was, for reports when it passed, e.g. "PRAGMA integrity_check: ok". */
  readonly integrity: string;
  readonly problems: readonly string[];
  readonly tables: readonly TableStats[];
}

export interface Driver {
  readonly name: string;
  /** Starts a consistent dump of the live database. */
  dump(signal?: AbortSignal): Promise<DumpSession>;
  /** Describes a destination (undefined: the target itself) before anything is written. */
  inspectDestination(destination?: string): Promise<DestinationState>;
  /**
   * Restores raw dump bytes into the destination (undefined: the target itself). `raw` fails instead of
   * ending when its bytes are not proven: the destination must then be left as it was (roll back, remove the
   * partial file, stop the tool) and the promise reject.
   */
  restore(raw: Readable, destination: string | undefined, options: RestoreOptions): Promise<void>;
  /** Where a restore into `destination`, which holds what `found` says, lands the backup on local disk first. */
  landing?(destination: string | undefined, found: DestinationState): Landing | undefined;
  /** Optional deep check of raw dump bytes (e.g. SQLite integrity_check); resolves to problems found. */
  checkDump?(raw: Readable): Promise<string[]>;
  /** Creates an empty scratch destination for a drill (`to`: the drill's configured place). */
  createScratch(label: string, to: string | undefined): Promise<Scratch>;
  /** Integrity check and row counts of a restored destination. */
  inspectRestored(destination: string): Promise<RestoredState>;
  /** Runs a query on a restored destination and returns the first column of its first row. */
  queryValue(destination: string, sql: string): Promise<unknown>;
}
