// Schedule maths on top of croner: next due time, "was a due time missed", interval between runs.
import { Cron } from 'croner';

/** A cron schedule (5 fields, or 6 with seconds first) in an IANA time zone. */
export class Schedule {
  readonly pattern: string;
  readonly timezone: string;
  readonly #cron: Cron;

  constructor(pattern: string, timezone = 'UTC') {
    this.pattern = pattern;
    this.timezone = timezone;
    this.#cron = new Cron(pattern, { paused: true, timezone, mode: '5-or-6-parts' });
  }

  /** The first due time strictly after `after`, or undefined when the pattern never fires again. */
  next(after: Date): Date | undefined {
    return this.#cron.nextRun(after) ?? undefined;
  }

  /** True when a due time fell after the last run started (or there was none) and at or before `now`. */
  missedSince(lastRun: Date | undefined, now: Date): boolean {
    if (lastRun === undefined) return true;
    const due = this.next(lastRun);
    return due !== undefined && due.getTime() <= now.getTime();
  }

  /** Seconds between the next two due times: what "on schedule" means for freshness alerts. */
  intervalSeconds(from: Date): number | undefined {
    const [a, b] = this.#cron.nextRuns(2, from);
    return a === undefined || b === undefined ? undefined : (b.getTime() - a.getTime()) / 1000;
  }
}

/** Why a pattern or time zone is invalid, or undefined when both are fine. */
export function scheduleProblem(pattern: string, timezone = 'UTC'): string | undefined {
  try {
    const schedule = new Schedule(pattern, timezone);
    if (schedule.next(new Date()) === undefined) return 'never fires';
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^CronPattern: /, '');
  }
}

/** True for a time zone name the runtime knows, e.g. "UTC" or "Europe/Berlin". */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
