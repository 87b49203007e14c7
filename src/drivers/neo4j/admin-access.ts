// How neo4j-admin and the DBMS are reached. `exec`: local commands (neo4j-admin, neo4j stop/start), the way
// Lifeboat runs on the database host and the way the tests run a real Neo4j.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Neo4jTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { runTool } from '../run-tool.js';

export interface AdminRun {
  readonly args: readonly string[];
  readonly stdin?: 'pipe' | 'ignore';
  readonly stdout?: 'pipe' | 'ignore';
  /** NEO4J_HOME / NEO4J_CONF for a scratch server instead of the live one. */
  readonly home?: string;
  readonly conf?: string;
}

/** A running neo4j-admin: a local process, or a one-off container. */
export interface AdminProcess {
  readonly stdout: Readable | null;
  readonly stdin: Writable | null;
  /** Resolves when neo4j-admin exits 0; rejects with its error lines otherwise. */
  readonly exited: Promise<void>;
  kill(): void;
}

/** What the Neo4j driver needs from the place Neo4j runs. */
export interface Neo4jAccess {
  admin(run: AdminRun): AdminProcess;
  stopDbms(): Promise<void>;
  startDbms(): Promise<void>;
  /** Runs a scratch server in the foreground (drills). */
  console(command: readonly string[], home: string, conf: string): ConsoleServer;
}

export interface ConsoleServer {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Keeps neo4j-admin's own error lines and drops its progress output. */
export function adminStderrFilter(line: string): boolean {
  const text = line.trim();
  return text !== '' && !/^(Files: \d+\/\d+|\.+\s*\d+%|Done: \d+ files)/.test(text);
}

export class ExecAccess implements Neo4jAccess {
  readonly #config: Neo4jTargetConfig;

  constructor(config: Neo4jTargetConfig) {
    this.#config = config;
  }

  #env(home?: string, conf?: string): NodeJS.ProcessEnv {
    const h = home ?? this.#config.exec.home;
    const c = conf ?? this.#config.exec.conf;
    return { ...(h === undefined ? {} : { NEO4J_HOME: h }), ...(c === undefined ? {} : { NEO4J_CONF: c }) };
  }

  #command(command: readonly string[], home?: string, conf?: string): [string, string[]] {
    const env = this.#env(home, conf);
    const fill = (arg: string) =>
      arg.replaceAll('{home}', env.NEO4J_HOME ?? '').replaceAll('{conf}', env.NEO4J_CONF ?? '');
    const [head, ...rest] = command.map(fill);
    return [head as string, rest];
  }

  admin(run: AdminRun): AdminProcess {
    const [command, base] = this.#command(this.#config.exec.admin, run.home, run.conf);
    const tool = runTool('neo4j', command, [...base, ...run.args], {
      env: this.#env(run.home, run.conf),
      stdin: run.stdin,
      stdout: run.stdout,
      name: 'neo4j-admin',
      missingHint: 'install Neo4j on this host, or set exec.admin to the neo4j-admin command',
      stderrFilter: adminStderrFilter,
    });
    return {
      stdout: tool.child.stdout,
      stdin: tool.child.stdin,
      exited: tool.exited,
      kill: () => tool.child.kill('SIGTERM'),
    };
  }

  async stopDbms(): Promise<void> {
    await this.#lifecycle(this.#config.exec.stop, 'stop');
  }

  async startDbms(): Promise<void> {
    await this.#lifecycle(this.#config.exec.start, 'start');
  }

  async #lifecycle(command: readonly string[], what: string): Promise<void> {
    const [head, args] = this.#command(command);
    try {
      await runTool('neo4j', head, args, { env: this.#env(), stdout: 'ignore', name: `${what} command` }).exited;
    } catch (error) {
      throw new LifeboatError(
        'DBMS',
        `neo4j: ${what} the DBMS with ${command.join(' ')}: ${(error as Error).message}`,
        {
          cause: error,
          hint: `check exec.${what}`,
        },
      );
    }
  }

  /** Runs a server in the foreground on a scratch home (`exec.console`); stop() ends it and waits. */
  console(command: readonly string[], home: string, conf: string): ConsoleServer {
    const [head, args] = this.#command(command, home, conf);
    const child = spawn(head, args, { env: { ...process.env, ...this.#env(home, conf) }, stdio: 'ignore' });
    const closed = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    return {
      child,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await closed;
        clearTimeout(timer);
      },
    };
  }
}
