// What every command needs: the loaded config, the storage, a logger, an abort signal tied to SIGINT/SIGTERM.
import { loadConfig, resolveConfigPath } from '../config/load.js';
import type { LifeboatConfig, TargetConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';

export interface GlobalOptions {
  config?: string;
  /** Work on this store under `stores:` instead of `storage:` (a copy). */
  store?: string;
}

export interface CommandContext {
  readonly config: LifeboatConfig;
  /** The store the command works on: `storage:`, or the one named by --store. */
  readonly storage: Storage;
  /** A store under `stores:` by name (the copies a backup goes to). */
  store(name: string): Promise<Storage>;
  /** The --store name, when the command works on a copy. */
  readonly storeName?: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export async function createContext(options: GlobalOptions): Promise<CommandContext> {
  const config = loadConfig(resolveConfigPath(options.config));
  const stores = new Map<string, Promise<Storage>>();
  const store = (name: string): Promise<Storage> => {
    const found = config.stores[name];
    if (found === undefined) {
      throw new UsageError(
        `unknown store "${name}" (under stores: ${Object.keys(config.stores).join(', ') || 'none'})`,
        'name a store configured under `stores:`',
      );
    }
    if (!stores.has(name)) stores.set(name, createStorage(found));
    return stores.get(name) as Promise<Storage>;
  };
  const storage = await (options.store === undefined ? createStorage(config.storage) : store(options.store));
  return { config, storage, store, storeName: options.store, logger: createLogger(), signal: interruptSignal() };
}

let controller: AbortController | undefined;

/** Aborts on the first SIGINT/SIGTERM (work stops cleanly); a second one exits at once. */
function interruptSignal(): AbortSignal {
  if (controller !== undefined) return controller.signal;
  const ctl = new AbortController();
  controller = ctl;
  const onSignal = (name: NodeJS.Signals) => {
    if (ctl.signal.aborted) process.exit(130);
    ctl.abort(new Error(`received ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ctl.signal;
}

/** EPIPE on standard output means the reader has all it wanted: exit without a word, as other tools do. */
export function quietOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

/** The named targets (all when none named); an unknown name is a usage error that lists the known ones. */
export function selectTargets(config: LifeboatConfig, names: readonly string[]): TargetConfig[] {
  if (names.length === 0) return [...config.targets];
  return names.map((name) => findTarget(config, name));
}

export function findTarget(config: LifeboatConfig, name: string): TargetConfig {
  const target = config.targets.find((t) => t.name === name);
  if (target === undefined) {
    throw new UsageError(
      `unknown target "${name}" (configured: ${config.targets.map((t) => t.name).join(', ')})`,
      'run `lifeboat config check` to see the configured targets',
    );
  }
  return target;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * An ISO 8601 time given to `flag`, with its zone (Z or +hh:mm): a time without one would be read in whatever
 * zone the host has, which is rarely what an operator means at 3 a.m. Days that do not exist (February 30)
 * are refused, not rolled over into the next month.
 */
export function parseTimeFlag(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const example = 'use e.g. 2026-11-22T03:00:00Z or 2026-11-22T04:00:00+01:00';
  const match = ISO_TIME.exec(text.trim());
  if (match === null) {
    const zoneless = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(text.trim());
    throw new UsageError(
      `${flag}: "${text}" is not an ISO 8601 time${zoneless ? ' with a time zone (Z or +hh:mm)' : ''}`,
      example,
    );
  }
  const [, year, month, day, hour, minute, second = '0'] = match.map((part) => part ?? '') as string[];
  const fields = [Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second)];
  const [y, mo, d, h, mi, se] = fields as [number, number, number, number, number, number];
  const probe = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  const real =
    probe.getUTCFullYear() === y &&
    probe.getUTCMonth() === mo - 1 &&
    probe.getUTCDate() === d &&
    probe.getUTCHours() === h &&
    probe.getUTCMinutes() === mi &&
    probe.getUTCSeconds() === se;
  const time = new Date(text.trim().replace(' ', 'T'));
  if (!real || Number.isNaN(time.getTime())) {
    throw new UsageError(`${flag}: "${text}" is not a real date and time`, example);
  }
  return time;
}
