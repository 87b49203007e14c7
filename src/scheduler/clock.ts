// Time as the scheduler sees it: injected, so tests drive it without waiting for real minutes.
import { nowMs } from '../clock.js';

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `delayMs`; returns a function that cancels it. */
  setTimer(delayMs: number, fn: () => void): () => void;
}

/** Node timers overflow above this (about 24.8 days); longer waits are chained. */
export const MAX_TIMER_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: () => nowMs(),
  setTimer(delayMs, fn) {
    const timer = setTimeout(fn, Math.max(0, Math.min(delayMs, MAX_TIMER_MS)));
    return () => clearTimeout(timer);
  },
};

/** Calls `fn` once the clock reaches `at`, re-arming when a timer fires early or the wait is longer than a timer. */
export function callAt(clock: Clock, at: number, fn: () => void): () => void {
  let cancel = (): void => undefined;
  const arm = (): void => {
    const delay = at - clock.now();
    if (delay <= 0) {
      fn();
      return;
    }
    cancel = clock.setTimer(Math.min(delay, MAX_TIMER_MS), arm);
  };
  arm();
  return () => cancel();
}
