// Helpers for the servers started by the tests: a free loopback port, readiness, stopping.
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';

export { freePort } from '../../src/free-port.js';

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`harness: ${what} did not become ready in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** A stop function for a server process: signal it, wait for it to exit, remove its folder. */
export function stopper(child: ChildProcess, signal: NodeJS.Signals, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
}
