// Helpers of the hostile suite: waiting on conditions (never fixed sleeps), a tiny file system that fills up,
// and the check that a failure was told as a sentence, not as a stack trace.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { expect } from 'vitest';

/** Resolves once `stream` has printed a line containing `text`. */
export function waitForLine(stream: Readable, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`no line with "${text}" within ${timeoutMs} ms:\n${seen}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
  });
}

/** Polls `check` every few milliseconds until it holds. */
export async function waitForCondition(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A tmpfs of `size` (e.g. "1m") mounted on a new folder: a disk that fills up. Needs root, as CI has. */
export async function mountTinyFolder(size: string): Promise<{ path: string; unmount(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'lifeboat-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path]);
  return {
    path,
    unmount: async () => {
      execFileSync('umount', [path]);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Standard error holds a sentence, not a JavaScript stack trace. */
export function noStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at .+[:(]\d+:\d+\)?$/m);
  expect(stderr).not.toMatch(/node:internal/);
}

/** What `read` gives once it stops changing: the same value at two looks `everyMs` apart. */
export async function settledValue(read: () => number, everyMs: number): Promise<number> {
  let settled = Number.NaN;
  for (let seen = read(); settled !== seen; seen = read()) {
    settled = seen;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return settled;
}

/** A SQLite file of `rows` KB-sized rows of random bytes (they do not compress). */
export function randomDatabase(path: string, rows: number): void {
  const db = new Database(path);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB)');
  const insert = db.prepare('INSERT INTO t (x) VALUES (randomblob(1000))');
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) insert.run();
  })();
  db.close();
}
