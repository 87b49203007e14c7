// Runs external tools with argument arrays (never a shell) and keeps the tail of their stderr for errors.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { setPriority } from 'node:os';
import { delimiter, join } from 'node:path';
import { LifeboatError } from '../errors.js';

const STDERR_LIMIT = 16 * 1024;

export interface ToolProcess {
  readonly child: ChildProcess;
  /** What messages call the tool (`options.name`, else the command's file name). */
  readonly name: string;
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

/**
 * The output buffer a tool that writes through C's stdio gets under coreutils' `stdbuf` (`stdoutBuffer`).
 * Into a pipe, glibc buffers 4 KiB (the pipe's st_blksize): pg_dump writes a 1086 MB dump in some 265 000
 * write calls, and a reader that keeps up reads it in 128 000 pieces of 8 KiB, each a trip through Node's
 * streams. With 1 MiB, the pipe is full whenever it is read: 23 000 pieces of 47 KiB. Measured here, that dump
 * read by Node and thrown away: the reader's CPU 0.42 against 1.35-1.60 s, pg_dump's and the reader's 2.2
 * against 3.5-3.9 s.
 */
const STDOUT_BUFFER = '1M';

/** Where coreutils' stdbuf is, by `path` (PATH); undefined where it is not installed. */
export function findStdbuf(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'stdbuf');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

let stdbuf: { path: string; found: string | undefined } | undefined;

/**
 * The command line that runs `command` with a larger stdout buffer: `stdbuf -o 1M command args` where stdbuf is
 * installed (it sets the buffer through LD_PRELOAD, then execs the tool: same process, same exit status), the
 * tool alone where it is not. Only for tools whose start was checked (a missing tool would be stdbuf's error).
 */
export function withStdoutBuffer(command: string, args: readonly string[]): [string, readonly string[]] {
  const path = process.env.PATH ?? '';
  if (stdbuf?.path !== path) stdbuf = { path, found: findStdbuf(path) };
  if (stdbuf.found === undefined) return [command, args];
  return [stdbuf.found, [`-o${STDOUT_BUFFER}`, command, ...args]];
}

/** A dump tool's scheduling on this host: nice value (0-19) and I/O class. */
export interface ToolPriority {
  readonly cpu?: number;
  readonly io?: 'normal' | 'idle';
}

/**
 * Lowers a started tool's priority: its nice value through the kernel (os.setPriority), its I/O class through
 * util-linux's ionice on the pid. Both apply while the tool is still connecting. Answers what went wrong.
 */
async function lowerPriority(child: ChildProcess, priority: ToolPriority): Promise<string | undefined> {
  if (child.pid === undefined) return undefined;
  if (priority.cpu !== undefined && priority.cpu > 0) {
    try {
      setPriority(child.pid, priority.cpu);
    } catch (error) {
      return `priority.cpu ${priority.cpu}: ${(error as Error).message}`;
    }
  }
  if (priority.io !== 'idle') return undefined;
  const ionice = spawn('ionice', ['-c', '3', '-p', String(child.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ionice.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => {
    ionice.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        `priority.io idle needs ionice (Debian: util-linux): ${error.code === 'ENOENT' ? 'not found' : error.message}`,
      ),
    );
    ionice.once('close', (code) =>
      // The tool may have finished already (a tiny dump): nothing left to lower.
      resolve(
        code === 0 || child.exitCode !== null
          ? undefined
          : `priority.io idle: ionice: ${stderr.trim() || `exit code ${code}`}`,
      ),
    );
  });
}

/** How runTool starts a tool and reports it. */
export interface ToolOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdin?: 'pipe' | 'ignore';
  readonly stdout?: 'pipe' | 'ignore';
  /** The tool's name in messages (default: the command's file name). */
  readonly name?: string;
  /** What to try when the command is not found. */
  readonly missingHint?: string;
  /** Keeps only the stderr lines worth showing in an error (e.g. drops progress lines). */
  readonly stderrFilter?: (line: string) => boolean;
  /** A lower CPU and I/O priority for the tool (a dump's `priority:`). */
  readonly priority?: ToolPriority;
  /** A 1 MiB stdout buffer where coreutils' stdbuf is installed (withStdoutBuffer); the tool was found. */
  readonly stdoutBuffer?: boolean;
}

/** Spawns `command` with `args`; secrets go through `env`, never the argument list. */
export function runTool(
  module: string,
  command: string,
  args: readonly string[],
  options: ToolOptions = {},
): ToolProcess {
  const name = options.name ?? command.split('/').pop() ?? command;
  const [file, argv] = options.stdoutBuffer === true ? withStdoutBuffer(command, args) : [command, args];
  const child = spawn(file, argv, {
    env: childEnv(options.env),
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'],
  });
  const lowered = options.priority === undefined ? Promise.resolve(undefined) : lowerPriority(child, options.priority);
  let priorityProblem: string | undefined;
  void lowered.then((problem) => {
    if (problem === undefined) return;
    priorityProblem = problem;
    child.kill('SIGTERM');
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
      if (priorityProblem !== undefined) {
        reject(
          new LifeboatError('TOOL_FAILED', `${module}: ${name}: ${priorityProblem}`, {
            exitCode: 2,
            hint: "fix or remove the target's priority: settings",
          }),
        );
      } else if (code === 0) resolve();
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
  return { child, name, exited, stderr: () => stderr };
}

/**
 * What a tool's error output says when trying again cannot help: credentials, permissions, a missing
 * database or role, a wrong option. Anything else (a dropped connection, a killed tool) may pass next time.
 */
const PERMANENT_FAILURE =
  /authentication failed|permission denied|access denied|does not exist|no pg_hba\.conf entry|unrecognized option|invalid option|server version mismatch|aborting because of server version/i;

/** Runs a tool to completion and returns its stdout. */
export async function toolOutput(
  module: string,
  command: string,
  args: readonly string[],
  options: Omit<ToolOptions, 'stdout'> = {},
): Promise<string> {
  const tool = runTool(module, command, args, options);
  let out = '';
  tool.child.stdout?.setEncoding('utf8');
  tool.child.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  await tool.exited;
  return out;
}
