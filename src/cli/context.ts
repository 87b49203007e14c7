// What every command needs: the loaded config, the storage, a logger, an abort signal tied to SIGINT/SIGTERM.
import { loadConfig, resolveConfigPath } from '../config/load.js';
import type { LifeboatConfig, TargetConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';

export interface GlobalOptions {
  config?: string;
}

export interface CommandContext {
  readonly config: LifeboatConfig;
  readonly storage: Storage;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export function createContext(options: GlobalOptions): CommandContext {
  const config = loadConfig(resolveConfigPath(options.config));
  return { config, storage: createStorage(config.storage), logger: createLogger(), signal: interruptSignal() };
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

/** An ISO 8601 time given to `flag`; a usage error naming the flag otherwise. */
export function parseTimeFlag(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) {
    throw new UsageError(`${flag}: "${text}" is not an ISO 8601 time`, 'use e.g. 2026-11-22T03:00:00Z');
  }
  return time;
}
