// Runs external tools with argument arrays (never a shell) and keeps the tail of their stderr for errors.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { LifeboatError } from '../errors.js';

const STDERR_LIMIT = 16 * 1024;

export interface ToolProcess {
  readonly child: ChildProcess;
  /** Resolves when the tool exits 0; rejects with a message holding its stderr otherwise. */
  readonly exited: Promise<void>;
  stderr(): string;
}

/**
 * What a child process inherits from Lifeboat's environment: the locale, paths and the tools' own settings
 * (libpq's PG*, Java's and Neo4j's), nothing else. Lifeboat's environment may carry the S3 secret or a
 * webhook token (interpolated into the config); a dump tool needs neither.
 */
const INHERITED =
  /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TMP|TEMP|PG[A-Z]+|JAVA_HOME|JAVA_OPTS|JDK_JAVA_OPTIONS|NEO4J_[A-Z0-9_]+)$/;

/** The environment of a child process: the inherited part of `parent`, then `extra`. */
export function childEnv(extra: NodeJS.ProcessEnv = {}, parent: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) if (INHERITED.test(name)) env[name] = value;
  return { ...env, ...extra };
}

/** Path of a tool in `binDir`, or its bare name for a PATH look-up. */
export function toolPath(name: string, binDir?: string): string {
  return binDir === undefined ? name : join(binDir, name);
}

/** Spawns `command` with `args`; secrets go through `env`, never the argument list. */
export function runTool(
  module: string,
  command: string,
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    stdin?: 'pipe' | 'ignore';
    stdout?: 'pipe' | 'ignore';
    /** The tool's name in messages (default: the command's file name). */
    name?: string;
    /** What to try when the command is not found. */
    missingHint?: string;
    /** Keeps only the stderr lines worth showing in an error (e.g. drops progress lines). */
    stderrFilter?: (line: string) => boolean;
  } = {},
): ToolProcess {
  const name = options.name ?? command.split('/').pop() ?? command;
  const child = spawn(command, args, {
    env: childEnv(options.env),
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_LIMIT);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new LifeboatError(
          'TOOL_MISSING',
          `${module}: run ${command}: ${error.code === 'ENOENT' ? 'not found' : error.message}`,
          {
            cause: error,
            hint:
              error.code === 'ENOENT'
                ? (options.missingHint ?? `install ${name} (Debian: apt-get install postgresql-client) or set binDir`)
                : undefined,
          },
        ),
      );
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        const status = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const filter = options.stderrFilter;
        const detail = (filter === undefined ? stderr : stderr.split('\n').filter(filter).slice(-8).join('\n')).trim();
        reject(
          new LifeboatError(
            'TOOL_FAILED',
            `${module}: ${name} failed (${status})${detail === '' ? '' : `: ${detail}`}`,
            { retryable: !PERMANENT_FAILURE.test(detail) },
          ),
        );
      }
    });
  });
  return { child, exited, stderr: () => stderr };
}

/**
 * What a tool's error output says when trying again cannot help: credentials, permissions, a missing
 * database or role, a wrong option. Anything else (a dropped connection, a killed tool) may pass next time.
 */
const PERMANENT_FAILURE =
  /authentication failed|permission denied|access denied|does not exist|no pg_hba\.conf entry|unrecognized option|invalid option|server version mismatch|aborting because of server version/i;

/** Runs a tool to completion and returns its stdout. */
export async function toolOutput(module: string, command: string, args: readonly string[]): Promise<string> {
  const tool = runTool(module, command, args);
  let out = '';
  tool.child.stdout?.setEncoding('utf8');
  tool.child.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  await tool.exited;
  return out;
}
