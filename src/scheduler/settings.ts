// The effective run settings of a target: its own, else `defaults:`, else the built-in defaults.
import { parseDuration } from '../config/duration.js';
import type { LifeboatConfig, RetentionConfig, TargetConfig, WebhookConfig } from '../config/schema.js';
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
    copies: (target.copies ?? d.copies ?? []).map((copy) => {
      const own = copy.retention ?? retention;
      return {
        store: copy.store,
        retention: own === undefined ? undefined : { ...own, timezone: own.timezone ?? timezone },
      };
    }),
  };
}
