// The one wall clock of a Lifeboat process: backup ids, snapshot times, lease expiry, retention and reports
// all read it. LIFEBOAT_NOW=<ISO 8601 time> starts it at that instant (time then passes as usual): a test, or
// an operator rehearsing a schedule, can run commands "at" chosen times without waiting for them.
import { LifeboatError } from './errors.js';

function offsetFromEnv(): number {
  const start = process.env.LIFEBOAT_NOW;
  if (start === undefined || start === '') return 0;
  const at = Date.parse(start);
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(start.trim()) || Number.isNaN(at)) {
    throw new LifeboatError('CONFIG', `LIFEBOAT_NOW: "${start}" is not an ISO 8601 time with a zone`, {
      hint: 'use e.g. 2026-11-22T03:00:00Z, or unset LIFEBOAT_NOW',
    });
  }
  return at - Date.now();
}

const offsetMs = offsetFromEnv();

/** Milliseconds since the epoch, on this process's wall clock. */
export function nowMs(): number {
  return Date.now() + offsetMs;
}

/** The current instant, on this process's wall clock. */
export function now(): Date {
  return new Date(nowMs());
}
