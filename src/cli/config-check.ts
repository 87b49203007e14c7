// `lifeboat config check`: validates the configuration and prints it with every secret redacted.
import { stringify } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { loadConfig, redactConfig, resolveConfigPath } from '../config/load.js';
import type { LifeboatConfig } from '../config/schema.js';
import { effectiveSettings } from '../scheduler/settings.js';
import { createStorage } from '../storage/create-storage.js';

export async function configCheckCommand(options: { config?: string; json?: boolean }): Promise<number> {
  const path = resolveConfigPath(options.config);
  const config = loadConfig(path);
  // What only the store can tell: that the bucket really locks objects.
  if (config.storage.type === 's3' && config.storage.objectLock !== undefined) {
    await (await createStorage(config.storage)).check();
  }
  for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning}\n`);
  const shown = redactConfig(config);
  process.stderr.write(`config ${path}: ok\n`);
  process.stdout.write(options.json ? `${JSON.stringify(shown, null, 2)}\n` : stringify(shown));
  return 0;
}

const DAY = 86_400_000;

/** Things that are valid but probably not meant: a lock outliving retention, plain HTTP to a remote store. */
export function configWarnings(config: LifeboatConfig): string[] {
  const warnings: string[] = [];
  const storage = config.storage;
  if (storage.type !== 's3') return warnings;
  if (storage.endpoint !== undefined) {
    const url = new URL(storage.endpoint);
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
    if (url.protocol === 'http:' && !loopback) {
      warnings.push(
        `storage.endpoint: ${url.origin} is plain HTTP: credentials are signed, but backups and listings cross the network unencrypted (use https://, and storage.encryption)`,
      );
    }
  }
  if (storage.objectLock === undefined) return warnings;
  const lockMs = parseDuration(storage.objectLock.retain);
  for (const target of config.targets) {
    const retention = effectiveSettings(config, target).retention;
    if (retention === undefined) continue;
    // The longest a backup is kept by any GFS rule, roughly: backups kept longer than that stay locked.
    const keptMs = Math.max(
      (retention.daily ?? 0) * DAY,
      (retention.weekly ?? 0) * 7 * DAY,
      (retention.monthly ?? 0) * 31 * DAY,
      (retention.yearly ?? 0) * 366 * DAY,
    );
    if (keptMs > 0 && lockMs > keptMs && retention.last === undefined) {
      warnings.push(
        `storage.objectLock.retain (${storage.objectLock.retain}) is longer than ${target.name}'s retention keeps backups ` +
          `(about ${Math.round(keptMs / DAY)} days): prune keeps them, locked, until the lock ends`,
      );
    }
  }
  return warnings;
}
