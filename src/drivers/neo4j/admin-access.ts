// How neo4j-admin and the DBMS are reached. `exec`: local commands (neo4j-admin, neo4j stop/start), the way
// Lifeboat runs on the database host and the way the tests run a real Neo4j.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Neo4jTargetConfig } from '../../config/schema.js';
import { LifeboatError } from '../../errors.js';
import { freePort } from '../../free-port.js';
import { type FedTool, fedProcess } from '../feed-tool.js';
import { childEnv, runTool } from '../run-tool.js';

export interface AdminRun {
  readonly args: readonly string[];
  readonly stdin?: 'pipe' | 'ignore';
  readonly stdout?: 'pipe' | 'ignore';
}

/**
 * A running neo4j-admin: a local process (`alive` from its exit code), or a one-off container (no `alive`).
 * `exited` rejects with neo4j-admin's error lines.
 */
export interface AdminProcess extends FedTool {
  readonly stdout: Readable | null;
}

/** What the Neo4j driver needs from the place Neo4j runs. */
export interface Neo4jAccess {
  admin(run: AdminRun): AdminProcess;
  stopDbms(): Promise<void>;
  startDbms(): Promise<void>;
  /** A new, empty scratch Neo4j for a drill, not started. */
  createScratch(label: string, to: string | undefined): Promise<ScratchServer>;
}

/** A drill's scratch Neo4j: its own store, its own server, removed afterwards. */
export interface ScratchServer {
  /** The drill's destination. */
  readonly id: string;
  readonly description: string;
  /** neo4j-admin on the scratch store. */
  admin(run: AdminRun): AdminProcess;
  /** Starts the scratch server; returns its Bolt URI. */
  start(): Promise<string>;
  /** Stops and removes everything; safe to call twice. */
  drop(): Promise<void>;
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

  admin(run: AdminRun, home?: string, conf?: string): AdminProcess {
    const [command, base] = this.#command(this.#config.exec.admin, home, conf);
    const tool = runTool('neo4j', command, [...base, ...run.args], {
      env: this.#env(home, conf),
      stdin: run.stdin,
      stdout: run.stdout,
      name: 'neo4j-admin',
      missingHint: 'install Neo4j on this host, or set exec.admin to the neo4j-admin command',
      stderrFilter: adminStderrFilter,
    });
    return { stdout: tool.child.stdout, ...fedProcess(tool) };
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

  /**
   * A scratch home (conf, data, logs...) in a new folder under `to` (or the temporary folder), with the live
   * configuration's settings but its own places, a free loopback port and small memory; the server runs in
   * the foreground with `exec.console`.
   */
  async createScratch(label: string, to: string | undefined): Promise<ScratchServer> {
    const base = to ?? tmpdir();
    await mkdir(base, { recursive: true });
    const home = await mkdtemp(join(base, `lifeboat-drill-${label}-`));
    const conf = join(home, 'conf');
    for (const dir of ['conf', 'data', 'logs', 'run', 'plugins', 'import']) await mkdir(join(home, dir));
    const port = await freePort();
    await writeFile(join(conf, 'neo4j.conf'), scratchConf(this.#liveConf(), home, port));
    await writeFile(join(home, SCRATCH_MARK), `${this.#config.name}\n`);
    let server: { stop(): Promise<void> } | undefined;
    return {
      id: home,
      description: `scratch Neo4j ${home} (bolt 127.0.0.1:${port})`,
      admin: (run) => this.admin(run, home, conf),
      start: async () => {
        server = this.#console(home, conf);
        return `bolt://127.0.0.1:${port}`;
      },
      drop: async () => {
        await server?.stop();
        await rm(home, { recursive: true, force: true });
      },
    };
  }

  /** Runs a server in the foreground on a scratch home (`exec.console`); stop() ends it and waits. */
  #console(home: string, conf: string): { stop(): Promise<void> } {
    const [head, args] = this.#command(this.#config.exec.console, home, conf);
    const child = spawn(head, args, { env: childEnv(this.#env(home, conf)), stdio: 'ignore' });
    const closed = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    });
    return {
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await closed;
        clearTimeout(timer);
      },
    };
  }

  #liveConf(): string {
    const dir =
      this.#config.exec.conf ??
      (this.#config.exec.home === undefined ? undefined : join(this.#config.exec.home, 'conf'));
    const file = dir === undefined ? undefined : join(dir, 'neo4j.conf');
    return file !== undefined && existsSync(file) ? readFileSync(file, 'utf8') : '';
  }
}

/** Marks a folder as a drill's scratch home, for a person who finds one left behind. */
const SCRATCH_MARK = '.lifeboat-neo4j-scratch';

/** The live configuration with its places, ports and memory replaced for a scratch server. */
export function scratchConf(live: string, home: string, port: number): string {
  const replaced =
    /^\s*(server\.(directories|bolt|http|https|cluster|routing|discovery|backup|memory)\.|dbms\.security\.auth_enabled|dbms\.usage_report)/;
  const kept = live.split('\n').filter((line) => !replaced.test(line));
  return [
    ...kept,
    '# scratch server of a Lifeboat drill',
    `server.directories.data=${join(home, 'data')}`,
    `server.directories.logs=${join(home, 'logs')}`,
    `server.directories.run=${join(home, 'run')}`,
    `server.directories.plugins=${join(home, 'plugins')}`,
    `server.directories.import=${join(home, 'import')}`,
    `server.bolt.listen_address=127.0.0.1:${port}`,
    `server.bolt.advertised_address=127.0.0.1:${port}`,
    'server.http.enabled=false',
    'server.https.enabled=false',
    ...SCRATCH_MEMORY.map(([key, value]) => `${key}=${value}`),
    'dbms.security.auth_enabled=true',
    'dbms.usage_report.enabled=false',
    '',
  ].join('\n');
}

/** A scratch server's memory: enough for a check and counts, small beside the live server. */
export const SCRATCH_MEMORY: readonly (readonly [string, string])[] = [
  ['server.memory.pagecache.size', '128m'],
  ['server.memory.heap.initial_size', '256m'],
  ['server.memory.heap.max_size', '1g'],
];
