// The scheduler: runs each job on its cron schedule, never two runs of one job at once, at most `concurrency`
// runs overall (the rest wait in a queue), with jitter, a timeout per run, retries with exponential backoff,
// and a graceful stop. It knows nothing of backups: the daemon passes `run`.
//
// Lifecycle: created -> running (start) -> draining (stop: no new runs; running ones may finish within the
// grace period) -> aborting (grace over: running ones are aborted) -> stopped.
import { describeError, isRetryable, LifeboatError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Clock, callAt, systemClock } from './clock.js';
import type { Schedule } from './schedule.js';

export interface JobDefinition {
  /** Unique key of the job. */
  readonly name: string;
  /** For logs: the target and the kind of work ("backup", "drill"); default: the name. */
  readonly target?: string;
  readonly kind?: string;
  readonly schedule: Schedule;
  readonly jitterMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
}

export type RunReason = 'schedule' | 'catch-up' | 'retry' | 'manual';

export interface RunContext {
  /** Aborted on timeout and when the grace period of a stop runs out. */
  readonly signal: AbortSignal;
  /** 0 for the first attempt, then 1, 2... for retries. */
  readonly attempt: number;
  readonly reason: RunReason;
}

export interface SchedulerOptions {
  readonly jobs: readonly JobDefinition[];
  /** Does the work; a rejection is a failed attempt. */
  readonly run: (job: string, context: RunContext) => Promise<void>;
  readonly concurrency: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Returns [0, 1); for jitter. */
  readonly random?: () => number;
  /** Whether a failed attempt is worth retrying; default: `isRetryable` (transient failures only). */
  readonly retryable?: (error: unknown) => boolean;
  /** Told about every due time skipped because the job was still busy. */
  readonly onSkip?: (job: string, due: Date) => void;
}

export type SchedulerState = 'created' | 'running' | 'draining' | 'aborting' | 'stopped';

type JobPhase = 'idle' | 'jitter' | 'queued' | 'running' | 'backoff';

interface JobState {
  readonly def: JobDefinition;
  phase: JobPhase;
  attempt: number;
  reason: RunReason;
  cancelDue: () => void;
  cancelWait: () => void;
  controller: AbortController | undefined;
  done: Promise<void> | undefined;
}

export interface StopResult {
  /** Runs that finished by themselves within the grace period. */
  readonly finished: number;
  /** Runs aborted when the grace period ran out. */
  readonly aborted: number;
  /** Queued or waiting runs dropped without starting. */
  readonly dropped: number;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #jobs = new Map<string, JobState>();
  readonly #queue: JobState[] = [];
  #running = 0;
  #state: SchedulerState = 'created';

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    for (const def of options.jobs) {
      this.#jobs.set(def.name, {
        def,
        phase: 'idle',
        attempt: 0,
        reason: 'schedule',
        cancelDue: () => undefined,
        cancelWait: () => undefined,
        controller: undefined,
        done: undefined,
      });
    }
  }

  get state(): SchedulerState {
    return this.#state;
  }

  /** Names of jobs running now. */
  get running(): string[] {
    return [...this.#jobs.values()].filter((job) => job.phase === 'running').map((job) => job.def.name);
  }

  /** The next due time of a job, for display. */
  nextDue(name: string): Date | undefined {
    const job = this.#jobs.get(name);
    return job?.def.schedule.next(new Date(this.#clock.now()));
  }

  /** Starts the schedules; jobs named in `catchUp` are queued at once (without jitter). */
  start(catchUp: readonly string[] = []): void {
    if (this.#state !== 'created') throw new Error(`scheduler: start: already ${this.#state}`);
    this.#state = 'running';
    for (const job of this.#jobs.values()) this.#armNext(job);
    for (const name of catchUp) {
      const job = this.#jobs.get(name);
      if (job !== undefined) this.#enqueue(job, 'catch-up', 0);
    }
  }

  /** Queues a run now unless the job is busy; returns whether it was queued. */
  trigger(name: string): boolean {
    const job = this.#jobs.get(name);
    if (job === undefined || this.#state !== 'running' || job.phase !== 'idle') return false;
    this.#enqueue(job, 'manual', 0);
    return true;
  }

  /**
   * Stops: nothing new starts, queued and waiting runs are dropped, running ones get `graceMs` to finish and
   * are then aborted. Resolves when every run has ended.
   */
  async stop(graceMs: number): Promise<StopResult> {
    if (this.#state === 'stopped' || this.#state === 'created') {
      this.#state = 'stopped';
      return { finished: 0, aborted: 0, dropped: 0 };
    }
    this.#state = 'draining';
    let dropped = 0;
    for (const job of this.#jobs.values()) {
      job.cancelDue();
      if (job.phase === 'jitter' || job.phase === 'queued' || job.phase === 'backoff') {
        job.cancelWait();
        job.phase = 'idle';
        dropped += 1;
      }
    }
    this.#queue.length = 0;
    const active = [...this.#jobs.values()].filter((job) => job.phase === 'running');
    let aborted = 0;
    const settled = Promise.all(active.map((job) => job.done));
    let cancelGrace = (): void => undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      cancelGrace = this.#clock.setTimer(graceMs, () => resolve('grace-over'));
    });
    if ((await Promise.race([settled.then(() => 'settled' as const), graceOver])) === 'grace-over') {
      this.#state = 'aborting';
      for (const job of active) {
        if (job.phase === 'running') {
          aborted += 1;
          job.controller?.abort(new LifeboatError('SHUTDOWN', 'stopped: the shutdown grace period ran out'));
        }
      }
      await settled;
    }
    cancelGrace();
    this.#state = 'stopped';
    return { finished: active.length - aborted, aborted, dropped };
  }

  #armNext(job: JobState): void {
    const due = job.def.schedule.next(new Date(this.#clock.now()));
    if (due === undefined) return;
    job.cancelDue = callAt(this.#clock, due.getTime(), () => {
      if (this.#state !== 'running') return;
      this.#armNext(job);
      this.#onDue(job, due);
    });
  }

  #onDue(job: JobState, due: Date): void {
    if (job.phase !== 'idle') {
      this.#options.logger.warn(
        { event: 'run.skipped', ...labels(job.def), due: due.toISOString(), busy: job.phase },
        'run skipped: the previous run of this target is still going',
      );
      this.#options.onSkip?.(job.def.name, due);
      return;
    }
    const delay = job.def.jitterMs > 0 ? Math.floor(this.#random() * job.def.jitterMs) : 0;
    this.#enqueue(job, 'schedule', delay);
  }

  #enqueue(job: JobState, reason: RunReason, delayMs: number): void {
    job.reason = reason;
    if (reason !== 'retry') job.attempt = 0;
    if (delayMs > 0) {
      job.phase = reason === 'retry' ? 'backoff' : 'jitter';
      job.cancelWait = this.#clock.setTimer(delayMs, () => {
        if (this.#state !== 'running') return;
        this.#enqueue(job, reason, 0);
      });
      return;
    }
    job.phase = 'queued';
    this.#queue.push(job);
    this.#pump();
  }

  #pump(): void {
    while (this.#state === 'running' && this.#running < this.#options.concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift() as JobState;
      this.#start(job);
    }
  }

  #start(job: JobState): void {
    job.phase = 'running';
    this.#running += 1;
    const controller = new AbortController();
    job.controller = controller;
    const cancelTimeout = this.#clock.setTimer(job.def.timeoutMs, () =>
      controller.abort(
        new LifeboatError('TIMEOUT', `run exceeded its timeout of ${Math.round(job.def.timeoutMs / 1000)} s`, {
          hint: `raise the target's timeout, or find out why the run is slow`,
        }),
      ),
    );
    const attempt = job.attempt;
    job.done = this.#options
      .run(job.def.name, { signal: controller.signal, attempt, reason: job.reason })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
      .then((error) => {
        cancelTimeout();
        this.#running -= 1;
        job.controller = undefined;
        job.phase = 'idle';
        if (error !== undefined) this.#afterFailure(job, error);
        this.#pump();
      });
  }

  #afterFailure(job: JobState, error: unknown): void {
    const retryable = this.#options.retryable ?? isRetryable;
    if (this.#state !== 'running' || job.attempt >= job.def.retries) return;
    if (!retryable(error)) {
      this.#options.logger.warn(
        { event: 'run.not-retried', ...labels(job.def), attempt: job.attempt, error: describeError(error) },
        'run failed in a way another attempt cannot mend; not retrying',
      );
      return;
    }
    const delay = job.def.retryDelayMs * 2 ** job.attempt;
    job.attempt += 1;
    this.#options.logger.warn(
      {
        event: 'run.retry',
        ...labels(job.def),
        attempt: job.attempt,
        of: job.def.retries,
        delayMs: delay,
        error: describeError(error),
      },
      'run failed; retrying',
    );
    this.#enqueue(job, 'retry', delay);
  }
}

function labels(def: JobDefinition): { target: string; kind?: string } {
  return def.kind === undefined
    ? { target: def.target ?? def.name }
    : { target: def.target ?? def.name, kind: def.kind };
}
