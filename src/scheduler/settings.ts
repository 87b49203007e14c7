// The effective run settings of a target: its own, else `defaults:`, else the built-in defaults.
import { parseDuration } from '../config/duration.js';
import { BYTE_RATE } from '../config/parts.js';
import type { LifeboatConfig, RetentionConfig, TargetConfig, WebhookConfig } from '../config/schema.js';
import { type CompressionSettings, defaultThreads, LEVELS } from '../pipeline/compress.js';
import { Schedule } from './schedule.js';

export interface EffectiveSettings {
  readonly schedule: Schedule | undefined;
  readonly timezone: string;
  readonly jitterMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly catchUp: boolean;
  /** Undefined when neither the target nor `defaults` sets a policy: prune then keeps everything. */
  readonly retention: (RetentionConfig & { timezone: string }) | undefined;
  readonly webhooks: readonly WebhookConfig[];
  /** Stores each committed backup is copied to, each with its retention. */
  readonly copies: readonly { store: string; retention: (RetentionConfig & { timezone: string }) | undefined }[];
  readonly compression: CompressionSettings;
  /** Bytes per second of this target's runs, undefined: no cap of its own. */
  readonly rateLimit: { readonly upload?: number; readonly download?: number };
  readonly priority: { readonly cpu: number; readonly io: 'normal' | 'idle' };
}

export const BUILT_IN = { timeout: '12h', retries: 2, retryDelay: '1m', jitter: '0s', catchUp: true } as const;

export function effectiveSettings(config: LifeboatConfig, target: TargetConfig): EffectiveSettings {
  const d = config.defaults;
  const timezone = target.timezone ?? d.timezone ?? 'UTC';
  const pattern = target.schedule ?? d.schedule;
  const retention = target.retention ?? d.retention;
  return {
    schedule: pattern === undefined ? undefined : new Schedule(pattern, timezone),
    timezone,
    jitterMs: parseDuration(target.jitter ?? d.jitter ?? BUILT_IN.jitter),
    timeoutMs: parseDuration(target.timeout ?? d.timeout ?? BUILT_IN.timeout),
    retries: target.retries ?? d.retries ?? BUILT_IN.retries,
    retryDelayMs: parseDuration(target.retryDelay ?? d.retryDelay ?? BUILT_IN.retryDelay),
    catchUp: target.catchUp ?? d.catchUp ?? BUILT_IN.catchUp,
    retention: retention === undefined ? undefined : { ...retention, timezone: retention.timezone ?? timezone },
    webhooks: [...(d.webhooks ?? []), ...(target.webhooks ?? [])],
    compression: effectiveCompression(d.compression, target.compression),
    rateLimit: byteRates({ ...d.rateLimit, ...target.rateLimit }),
    priority: {
      cpu: target.priority?.cpu ?? d.priority?.cpu ?? 0,
      io: target.priority?.io ?? d.priority?.io ?? 'normal',
    },
    copies: (target.copies ?? d.copies ?? []).map((copy) => {
      const own = copy.retention ?? retention;
      return {
        store: copy.store,
        retention: own === undefined ? undefined : { ...own, timezone: own.timezone ?? timezone },
      };
    }),
  };
}

type CompressionConfig = NonNullable<TargetConfig['compression']>;

/** Field by field: the target's, else `defaults:`, else gzip at its default level on every core (defaultThreads). */
export function effectiveCompression(
  defaults: CompressionConfig | undefined,
  own: CompressionConfig | undefined,
): CompressionSettings {
  const algorithm = own?.algorithm ?? defaults?.algorithm ?? 'gzip';
  // A level set for another algorithm (defaults say zstd 19, the target gzip) does not carry over.
  const inherited = defaults?.algorithm === undefined || defaults.algorithm === algorithm ? defaults?.level : undefined;
  const level = algorithm === 'none' ? 0 : (own?.level ?? inherited ?? LEVELS[algorithm].default);
  return { algorithm, level, threads: own?.threads ?? defaults?.threads ?? defaultThreads(algorithm) };
}

const RATE_UNIT = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

/** Bytes per second of a configured rate (a number, or "20MiB"). */
export function parseByteRate(rate: number | string): number {
  if (typeof rate === 'number') return rate;
  const match = BYTE_RATE.exec(rate);
  if (match === null) throw new Error(`not a rate: ${JSON.stringify(rate)} (expected e.g. "20MiB")`);
  return Math.round(Number(match[1]) * RATE_UNIT[match[2] as keyof typeof RATE_UNIT]);
}

export function byteRates(limits: { upload?: number | string; download?: number | string } | undefined): {
  upload?: number;
  download?: number;
} {
  return {
    ...(limits?.upload === undefined ? {} : { upload: parseByteRate(limits.upload) }),
    ...(limits?.download === undefined ? {} : { download: parseByteRate(limits.download) }),
  };
}
