// Whether a retry can help: the error codes' table, the causes behind a wrapped backup failure, and the
// scheduler acting on it (a permanent failure is not retried, a transient one is, with backoff).
import { describe, expect, it } from 'vitest';
import { BackupFailedError } from '../../src/core/run-backup.js';
import { ConfigError, ERROR_CODES, isRetryable, LifeboatError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { Schedule } from '../../src/scheduler/schedule.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';

function wrapped(cause: unknown): BackupFailedError {
  return new BackupFailedError('backup db: dump: it failed', {
    id: '20260101T000000Z-abcdef',
    stage: 'dump',
    cleanedUp: true,
    interrupted: false,
    cause,
  });
}

const s3Error = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('retryable errors', () => {
  it('gives every code an exit code, and usage/config codes exit 2', () => {
    for (const [code, meta] of Object.entries(ERROR_CODES)) {
      expect([1, 2], code).toContain(meta.exitCode);
      expect(new LifeboatError(code as keyof typeof ERROR_CODES, 'x').exitCode, code).toBe(meta.exitCode);
    }
    expect(new ConfigError(['storage.path: required']).exitCode).toBe(2);
    expect(ERROR_CODES.USAGE.exitCode).toBe(2);
  });

  it('tells transient failures from permanent ones', () => {
    const transient = [
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      s3Error('InternalError', 500),
      s3Error('SlowDown', 503),
      s3Error('TooManyRequests', 429),
      Object.assign(new Error('no answer'), { name: 'TimeoutError' }),
      new LifeboatError('TIMEOUT', 'run exceeded its timeout'),
      new LifeboatError('UNREACHABLE', 'postgres: server unreachable'),
      new LifeboatError('STORAGE', 'storage: write: socket hang up'),
    ];
    const permanent = [
      new ConfigError(['targets[0].url: required']),
      new LifeboatError('AUTH', 'password authentication failed'),
      new LifeboatError('INTEGRITY', 'sha256 mismatch'),
      new LifeboatError('SOURCE', 'database "x" does not exist'),
      new LifeboatError('DUMP_EMPTY', 'wrote nothing'),
      new LifeboatError('STORAGE', 'storage: write: AccessDenied', { retryable: false }),
      s3Error('AccessDenied', 403),
      s3Error('NoSuchBucket', 404),
    ];
    for (const error of transient) expect(isRetryable(error), describe_(error)).toBe(true);
    for (const error of permanent) expect(isRetryable(error), describe_(error)).toBe(false);
    // A wrapped backup failure is what its cause is.
    for (const error of transient) expect(isRetryable(wrapped(error)), describe_(error)).toBe(true);
    for (const error of permanent) expect(isRetryable(wrapped(error)), describe_(error)).toBe(false);
  });

  it('makes the scheduler retry a transient failure with backoff, and not a permanent one inside a backup', async () => {
    const clock = new FakeClock('2026-03-02T00:00:00Z');
    const attempts: Record<string, number[]> = { transient: [], permanent: [] };
    const job = (name: string) => ({
      name,
      schedule: new Schedule('0 0 * * *'),
      jitterMs: 0,
      timeoutMs: 3_600_000,
      retries: 3,
      retryDelayMs: 1_000,
    });
    new Scheduler({
      jobs: [job('transient'), job('permanent')],
      run: async (name) => {
        attempts[name]?.push(clock.now());
        throw wrapped(
          name === 'transient'
            ? new LifeboatError('STORAGE', 'storage: write: ECONNRESET')
            : new LifeboatError('AUTH', 'postgres: password authentication failed'),
        );
      },
      concurrency: 2,
      logger: createLogger('silent'),
      clock,
    }).start(['transient', 'permanent']);
    await clock.advance(60_000);
    expect(attempts.permanent).toHaveLength(1);
    const t = attempts.transient as number[];
    expect(t).toHaveLength(4);
    expect(t.slice(1).map((at, i) => at - (t[i] as number))).toEqual([1_000, 2_000, 4_000]);
  });
});

function describe_(error: unknown): string {
  return `${(error as Error).name}: ${(error as Error).message}`;
}
