// Runs the built `lifeboat` command as a user would, and writes configs into temporary folders.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DrillRecord } from '../../src/verify/drill-record.js';

// The built command, the bundle users run (scripts/bundle.mjs): from the sources (test/harness) or from the
// build itself (dist/test/harness).
export const CLI = [
  join(import.meta.dirname, '..', '..', 'dist', 'cli', 'lifeboat.js'),
  join(import.meta.dirname, '..', '..', 'cli', 'lifeboat.js'),
].find((file) => existsSync(file)) as string;

/** The Node.js flags on the command's first line (`#!/usr/bin/env -S node ...`): it runs with them. */
export const NODE_FLAGS: readonly string[] = (() => {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
  const words = first
    .replace(/^#!\s*\S*env\s+(-S\s+)?/, '')
    .split(/\s+/)
    .filter(Boolean);
  return words.slice(1);
})();

/** How to start the command as its own first line does, with this process's Node.js. */
export function lifeboatArgv(...args: readonly string[]): string[] {
  return [process.execPath, ...NODE_FLAGS, CLI, ...args];
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly child: ReturnType<typeof spawn>;
  readonly result: Promise<CliResult>;
}

/** A child's exit code and all it wrote on stdout and stderr, once it has closed them. */
export function captured(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const [node, ...argv] = lifeboatArgv(...args);
  const child = spawn(node as string, argv, {
    env: { ...process.env, LIFEBOAT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, result: captured(child) };
}

/**
 * The environment that starts a command's clock at `ms` since the epoch (LIFEBOAT_NOW): commands "run" at
 * chosen times, a minute apart, with no waiting for one-second backup ids.
 */
export function clockAt(ms: number): NodeJS.ProcessEnv {
  return { LIFEBOAT_NOW: new Date(ms).toISOString() };
}

export function runCli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return startCli(args, env).result;
}

/** A temporary folder holding `lifeboat.yaml` with the given content; returns the folder and config path. */
export async function writeConfig(config: unknown): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-it-'));
  const path = join(dir, 'lifeboat.yaml');
  await writeFile(path, typeof config === 'string' ? config : stringify(config));
  return { dir, path };
}

export interface RunningDaemon extends RunningCli {
  /** Base URL of /metrics, /healthz, /readyz. */
  readonly url: string;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<CliResult>;
  /** Standard error so far. */
  stderrSoFar(): string;
}

/** Starts `lifeboat daemon` and waits until it serves metrics (the config should listen on port 0). */
export async function startDaemon(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const running = startCli(['--config', configPath, 'daemon'], env);
  let seen = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /metrics at (https?:\/\/\S+)\/metrics/.exec(seen);
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    running.child.stderr?.on('data', onData);
    running.result.then((r) => reject(new Error(`daemon exited with ${r.code} before serving metrics:\n${r.stderr}`)));
  });
  return {
    ...running,
    url,
    stderrSoFar: () => seen,
    stop: () => {
      running.child.kill('SIGTERM');
      return running.result;
    },
  };
}

/** JSON log lines of a run, parsed; other lines are skipped. */
export function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** `lifeboat drill --json` of one target: the exit code and its drill record. */
export async function drillJson(
  configPath: string,
  ...args: string[]
): Promise<{ code: number | null; record: DrillRecord; stderr: string }> {
  const result = await runCli(['--config', configPath, 'drill', '--json', ...args]);
  const [record] = JSON.parse(result.stdout) as DrillRecord[];
  if (record === undefined) throw new Error(`no drill record:\n${result.stderr}`);
  return { code: result.code, record, stderr: result.stderr };
}
