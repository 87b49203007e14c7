// The scheduler against a hand-driven clock: cron timing, no overlap, the concurrency queue, jitter, timeouts,
// retries with backoff, catch-up and the graceful stop. Runs take fake time; nothing waits for real minutes.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { callAt, MAX_TIMER_MS } from '../../src/scheduler/clock.js';
import { Schedule } from '../../src/scheduler/schedule.js';
import { type JobDefinition, type RunContext, Scheduler } from '../../src/scheduler/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';

const logger = createLogger('silent');
const T0 = '2026-03-02T00:00:00Z';

function job(name: string, pattern: string, extra: Partial<JobDefinition> = {}): JobDefinition {
  return {
    name,
    schedule: new Schedule(pattern),
    jitterMs: 0,
    timeoutMs: 3_600_000,
    retries: 0,
    retryDelayMs: 1_000,
    ...extra,
  };
}

interface Started {
  readonly job: string;
  readonly at: number;
  readonly context: RunContext;
}

/** A run that takes `seconds(job, attempt)` of fake time, or fails after it when the value is negative. */
function work(clock: FakeClock, seconds: (job: string, attempt: number) => number) {
  const started: Started[] = [];
  let active = 0;
  let maxActive = 0;
  const run = (name: string, context: RunContext) => {
    started.push({ job: name, at: clock.now(), context });
    active += 1;
    maxActive = Math.max(maxActive, active);
    const s = seconds(name, context.attempt);
    return new Promise<void>((resolve, reject) => {
      const end = () => {
        active -= 1;
        if (s < 0) reject(new Error('dump failed'));
        else resolve();
      };
      const cancel = clock.setTimer(Math.abs(s) * 1000, end);
      context.signal.addEventListener('abort', () => {
        cancel();
        active -= 1;
        reject(context.signal.reason);
      });
    });
  };
  return {
    run,
    started,
    get maxActive() {
      return maxActive;
    },
    times: (name?: string) =>
      started
        .filter((s) => name === undefined || s.job === name)
        .map((s) => new Date(s.at).toISOString().slice(11, 19)),
  };
}

describe('scheduler', () => {
  it('runs a job at each due time of its cron pattern', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 1);
    const scheduler = new Scheduler({ jobs: [job('a', '*/10 * * * * *')], run: w.run, concurrency: 1, logger, clock });
    scheduler.start();
    await clock.advance(35_000);
    expect(w.times()).toEqual(['00:00:10', '00:00:20', '00:00:30']);
    expect(w.started.every((s) => s.context.reason === 'schedule' && s.context.attempt === 0)).toBe(true);
  });

  it('honours the time zone of the schedule', async () => {
    const clock = new FakeClock('2026-07-01T00:00:00Z');
    const w = work(clock, () => 1);
    const def = { ...job('a', '0 3 * * *'), schedule: new Schedule('0 3 * * *', 'Europe/Berlin') };
    new Scheduler({ jobs: [def], run: w.run, concurrency: 1, logger, clock }).start();
    await clock.advance(86_400_000);
    expect(w.started.map((s) => new Date(s.at).toISOString())).toEqual(['2026-07-01T01:00:00.000Z']);
  });

  it('skips a due time while the previous run of the same job is still going, and reports it', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 25);
    const skipped: string[] = [];
    const scheduler = new Scheduler({
      jobs: [job('a', '*/10 * * * * *')],
      run: w.run,
      concurrency: 4,
      logger,
      clock,
      onSkip: (name, due) => skipped.push(`${name}@${due.toISOString().slice(11, 19)}`),
    });
    scheduler.start();
    await clock.advance(60_000);
    expect(w.times()).toEqual(['00:00:10', '00:00:40']);
    expect(skipped).toEqual(['a@00:00:20', 'a@00:00:30', 'a@00:00:50', 'a@00:01:00']);
    expect(w.maxActive).toBe(1);
  });

  it('queues runs beyond the concurrency limit and starts them as slots free up', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 4);
    const jobs = ['a', 'b', 'c'].map((name) => job(name, '0 * * * * *'));
    new Scheduler({ jobs, run: w.run, concurrency: 1, logger, clock }).start();
    await clock.advance(70_000);
    expect(w.started.map((s) => `${s.job} ${new Date(s.at).toISOString().slice(11, 19)}`)).toEqual([
      'a 00:01:00',
      'b 00:01:04',
      'c 00:01:08',
    ]);
    expect(w.maxActive).toBe(1);

    const clock2 = new FakeClock(T0);
    const w2 = work(clock2, () => 4);
    new Scheduler({ jobs, run: w2.run, concurrency: 2, logger, clock: clock2 }).start();
    await clock2.advance(70_000);
    expect(w2.times()).toEqual(['00:01:00', '00:01:00', '00:01:04']);
    expect(w2.maxActive).toBe(2);
  });

  it('delays each scheduled run by a random jitter up to the configured bound', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 1);
    const draws = [0.5, 0.1];
    new Scheduler({
      jobs: [job('a', '0 * * * * *', { jitterMs: 20_000 })],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
      random: () => draws.shift() ?? 0,
    }).start();
    await clock.advance(125_000);
    expect(w.times()).toEqual(['00:01:10', '00:02:02']);
  });

  it('aborts a run at its timeout and retries with exponential backoff, then gives up', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 1_000);
    new Scheduler({
      jobs: [job('a', '0 0 * * *', { timeoutMs: 5_000, retries: 2, retryDelayMs: 10_000 })],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
    }).start();
    await clock.advance(86_400_000 + 60_000);
    // 00:00:00 + 5 s timeout + 10 s backoff = 00:00:15; + 5 s + 20 s = 00:00:40; then no third retry.
    expect(w.times()).toEqual(['00:00:00', '00:00:15', '00:00:40']);
    expect(w.started.map((s) => [s.context.reason, s.context.attempt])).toEqual([
      ['schedule', 0],
      ['retry', 1],
      ['retry', 2],
    ]);
    const reasons = w.started.map((s) => (s.context.signal.reason as { code?: string }).code);
    expect(reasons).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
  });

  it('retries until an attempt succeeds, and resets the attempt count for the next due time', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, (_name, attempt) => (attempt === 0 ? -1 : 1));
    new Scheduler({
      jobs: [job('a', '*/30 * * * * *', { retries: 3, retryDelayMs: 2_000 })],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
    }).start();
    await clock.advance(65_000);
    expect(w.started.map((s) => `${new Date(s.at).toISOString().slice(11, 19)}#${s.context.attempt}`)).toEqual([
      '00:00:30#0',
      '00:00:33#1',
      '00:01:00#0',
      '00:01:03#1',
    ]);
    expect(w.started.filter((s) => s.context.attempt > 1)).toEqual([]);
  });

  it('does not retry a configuration error', async () => {
    const clock = new FakeClock(T0);
    const started: number[] = [];
    new Scheduler({
      jobs: [job('a', '0 * * * * *', { retries: 3 })],
      run: async () => {
        started.push(clock.now());
        throw new ConfigError(['targets[0].path: required']);
      },
      concurrency: 1,
      logger,
      clock,
    }).start();
    await clock.advance(90_000);
    expect(started).toHaveLength(1);
  });

  it('runs catch-up jobs at start, once, before their next due time', async () => {
    const clock = new FakeClock('2026-03-02T10:17:00Z');
    const w = work(clock, () => 1);
    new Scheduler({
      jobs: [job('a', '0 3 * * *'), job('b', '0 3 * * *')],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
    }).start(['a']);
    await clock.advance(60_000);
    expect(w.started.map((s) => [s.job, s.context.reason])).toEqual([['a', 'catch-up']]);
  });

  it('on stop lets a run finish within the grace period, drops queued ones and schedules nothing more', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 20);
    const scheduler = new Scheduler({
      jobs: [job('a', '0 * * * * *'), job('b', '0 * * * * *')],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
    });
    scheduler.start();
    await clock.advance(65_000); // a runs since 00:01:00, b waits in the queue
    const stopping = scheduler.stop(30_000);
    expect(scheduler.state).toBe('draining');
    await clock.advance(120_000);
    expect(await stopping).toEqual({ finished: 1, aborted: 0, dropped: 1 });
    expect(scheduler.state).toBe('stopped');
    expect(w.started.map((s) => s.job)).toEqual(['a']);
    expect(clock.pending).toBe(0);
  });

  it('on stop aborts a run that outlasts the grace period, with a shutdown reason', async () => {
    const clock = new FakeClock(T0);
    const w = work(clock, () => 3_600);
    const scheduler = new Scheduler({
      jobs: [job('a', '0 * * * * *', { retries: 5 })],
      run: w.run,
      concurrency: 1,
      logger,
      clock,
    });
    scheduler.start();
    await clock.advance(61_000);
    const stopping = scheduler.stop(10_000);
    await clock.advance(10_000);
    expect(await stopping).toEqual({ finished: 0, aborted: 1, dropped: 0 });
    expect(w.started[0]?.context.signal.reason).toMatchObject({ code: 'SHUTDOWN' });
    await clock.advance(600_000);
    expect(w.started).toHaveLength(1); // no retry after a stop
  });
});

describe('schedule maths', () => {
  it('knows when a due time was missed since the last run', () => {
    const daily = new Schedule('0 3 * * *');
    const now = new Date('2026-03-02T10:00:00Z');
    expect(daily.missedSince(undefined, now)).toBe(true);
    expect(daily.missedSince(new Date('2026-03-02T03:00:04Z'), now)).toBe(false);
    expect(daily.missedSince(new Date('2026-03-01T03:00:04Z'), now)).toBe(true);
    expect(daily.missedSince(new Date('2026-02-20T03:00:00Z'), now)).toBe(true);
  });

  it('accepts 5 and 6 fields and reports the interval between runs', () => {
    expect(new Schedule('*/15 * * * *').intervalSeconds(new Date(T0))).toBe(900);
    expect(new Schedule('*/5 * * * * *').intervalSeconds(new Date(T0))).toBe(5);
    expect(new Schedule('0 3 * * 1').intervalSeconds(new Date(T0))).toBe(7 * 86_400);
    expect(() => new Schedule('* * * *')).toThrow(/five, six/);
  });

  it('waits longer than one Node timer can by chaining timers', async () => {
    const clock = new FakeClock(T0);
    let fired = 0;
    const at = clock.now() + 3 * MAX_TIMER_MS + 5;
    callAt(clock, at, () => {
      fired = clock.now();
    });
    await clock.advance(3 * MAX_TIMER_MS);
    expect(fired).toBe(0);
    await clock.advance(5);
    expect(fired).toBe(at);
  });
});
