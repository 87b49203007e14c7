// Neo4j driver: `neo4j-admin database dump --to-stdout` streamed into the pipeline, `database load
// --from-stdin` to restore. Community can only dump and load a stopped DBMS: with `offline: stop-start` the
// driver stops it first and starts it again afterwards in every case (dump or upload failure, abort, timeout),
// and reports success only once Bolt answers again. The downtime goes into the manifest.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { now } from '../../clock.js';
import { parseDuration } from '../../config/duration.js';
import type { Neo4jTargetConfig } from '../../config/schema.js';
import { describeError, LifeboatError } from '../../errors.js';
import { withSpooledFile } from '../../work-dir.js';
import {
  type DestinationState,
  type Driver,
  type DumpSession,
  type Landing,
  type RestoredState,
  RestoreLeftChanges,
  type RestoreOptions,
  type Scratch,
} from '../driver.js';
import { feedTool } from '../feed-tool.js';
import { type AdminRun, ExecAccess, type Neo4jAccess, type ScratchServer } from './admin-access.js';
import { type BoltTarget, databases, graphStats, queryValue, serverFacts, waitForBolt, withBolt } from './bolt.js';
import { DockerAccess } from './docker-access.js';
import { DumpFramesCheck } from './dump-format.js';

const CHECKED = 'neo4j-admin database check: consistent';

interface DrillScratch {
  readonly server: ScratchServer;
  /** Bolt of the scratch server once it runs. */
  bolt?: BoltTarget;
  readonly password: string;
  /** A dump was loaded into it. */
  loaded: boolean;
}

export class Neo4jDriver implements Driver {
  readonly name = 'neo4j';
  readonly #config: Neo4jTargetConfig;
  readonly #access: Neo4jAccess;
  readonly #scratch = new Map<string, DrillScratch>();

  constructor(config: Neo4jTargetConfig) {
    this.#config = config;
    this.#access = config.access === 'docker' ? new DockerAccess(config) : new ExecAccess(config);
  }

  get #bolt(): BoltTarget {
    return { uri: this.#config.uri, user: this.#config.user, password: this.#config.password };
  }

  async dump(): Promise<DumpSession> {
    const config = this.#config;
    const database = config.database;
    const adminMajor = await this.#adminMajor();
    // Before anything stops: the server's facts and the graph's statistics, through Bolt.
    let facts = { version: 'unknown (DBMS stopped)', edition: 'unknown' };
    let stats = { tables: [] as { name: string; rows: number }[], nodes: 0, relationships: 0 };
    if (config.offline !== 'assume') {
      await withBolt(this.#bolt, async (driver) => {
        facts = await serverFacts(driver);
        const known = await databases(driver);
        if (!known.includes(database)) {
          throw new LifeboatError('SOURCE', `neo4j: dump ${database}: no such database (known: ${known.join(', ')})`, {
            hint: "fix the target's database",
          });
        }
        if (database !== 'system') stats = await graphStats(driver, database);
      });
      const serverMajor = Number(facts.version.split('.')[0]);
      if (adminMajor !== undefined && serverMajor > 0 && serverMajor !== adminMajor) {
        throw new LifeboatError(
          'TOOL_VERSION',
          `neo4j: dump ${database}: neo4j-admin ${adminMajor} does not match the server's major version ${serverMajor}`,
          { hint: 'use the neo4j-admin of the same Neo4j version as the server (exec.admin)' },
        );
      }
    }
    const source: Record<string, unknown> = {
      database,
      uri: config.uri,
      serverVersion: facts.version,
      edition: facts.edition,
      offline: config.offline,
    };
    const snapshotAt = now();
    const stoppedAt = Date.now();
    const stop = await this.#takeOffline(database);
    const dumpStartedAt = Date.now();
    try {
      const tool = this.#access.admin({ args: ['database', 'dump', database, '--to-stdout'], stdout: 'pipe' });
      const done = (async () => {
        let failure: unknown;
        try {
          await tool.exited.catch((error: unknown) => {
            throw explainAdminError(error, database, config);
          });
        } catch (error) {
          failure = error;
        }
        const dumpEndedAt = Date.now();
        // Back online in every case; only then is the dump over.
        try {
          await stop.bringBack();
        } catch (error) {
          failure =
            failure === undefined
              ? error
              : new LifeboatError('DBMS', `${describeError(failure)}; then: ${describeError(error)}`, { cause: error });
        }
        source.downtimeSeconds = stop.wasStopped ? (Date.now() - stoppedAt) / 1000 : 0;
        // Where the downtime went: stopping, dumping (and storing, which runs in step), starting again.
        source.offlineSeconds = {
          stop: (dumpStartedAt - stoppedAt) / 1000,
          dump: (dumpEndedAt - dumpStartedAt) / 1000,
          start: (Date.now() - dumpEndedAt) / 1000,
        };
        if (failure !== undefined) throw failure;
      })();
      done.catch(() => undefined);
      // neo4j-admin exiting 0 is not proof of a whole dump: its zstd frames are walked as they flow. When it
      // failed, its own error (through `done`) is the one told.
      const stream = (tool.stdout as Readable).pipe(new DumpFramesCheck(database, tool.exited));
      (tool.stdout as Readable).once('error', (error) => stream.destroy(error));
      return {
        stream,
        fileName: `${database}.neo4j-dump`,
        format: 'neo4j-admin-dump',
        // neo4j-admin compresses its dumps (zstd) already: gzip would only cost time while the DBMS is down.
        compressed: true,
        snapshotAt,
        source,
        stats: { tables: stats.tables, nodes: stats.nodes, relationships: stats.relationships },
        done,
        abort: () => tool.kill(),
      };
    } catch (error) {
      await stop.bringBack().catch(() => undefined);
      throw error;
    }
  }

  /** Stops what must be stopped for neo4j-admin; bringBack() starts it again and waits for Bolt. */
  async #takeOffline(database: string): Promise<{ wasStopped: boolean; bringBack(): Promise<void> }> {
    const config = this.#config;
    const timeout = parseDuration(config.startTimeout);
    if (config.offline === 'assume') return { wasStopped: false, bringBack: async () => undefined };
    if (config.offline === 'online') {
      await withBolt(this.#bolt, (d) =>
        d.executeQuery(`STOP DATABASE \`${database}\` WAIT`, {}, { database: 'system' }),
      );
      return {
        wasStopped: true,
        bringBack: () =>
          withBolt(this.#bolt, async (d) => {
            await d.executeQuery(`START DATABASE \`${database}\` WAIT`, {}, { database: 'system' });
          }),
      };
    }
    let started = false;
    const bringBack = async () => {
      if (started) return;
      started = true;
      await this.#access.startDbms();
      await waitForBolt(this.#bolt, timeout, config.database === 'system' ? 'system' : config.database);
    };
    try {
      await this.#access.stopDbms();
    } catch (error) {
      await bringBack().catch(() => undefined);
      throw error;
    }
    return { wasStopped: true, bringBack };
  }

  async #adminMajor(): Promise<number | undefined> {
    try {
      const tool = this.#access.admin({ args: ['--version'], stdout: 'pipe' });
      let out = '';
      tool.stdout?.setEncoding('utf8');
      tool.stdout?.on('data', (chunk: string) => {
        out += chunk;
      });
      await tool.exited;
      const match = /(\d+)\.\d+/.exec(out);
      return match === null ? undefined : Number(match[1]);
    } catch (error) {
      if (error instanceof LifeboatError && error.code === 'DOCKER') throw error;
      throw new LifeboatError(
        'TOOL_MISSING',
        `neo4j: run neo4j-admin (${this.#config.exec.admin.join(' ')}): ${describeError(error)}`,
        {
          cause: error,
          hint: 'install Neo4j on this host, or set exec.admin to the neo4j-admin command',
        },
      );
    }
  }

  async inspectDestination(destination?: string): Promise<DestinationState> {
    const scratch = destination === undefined ? undefined : this.#scratch.get(destination);
    if (scratch !== undefined) {
      return {
        description: `scratch server ${destination}`,
        hasData: scratch.loaded,
        detail: scratch.loaded ? 'a dump is loaded into it' : 'new scratch server',
      };
    }
    const database = destination ?? this.#config.database;
    const description = `${this.#config.uri} database ${database}`;
    try {
      return await withBolt(this.#bolt, async (driver) => {
        if (!(await databases(driver)).includes(database)) {
          return { description, hasData: false, detail: 'database does not exist yet' };
        }
        const stats = await graphStats(driver, database);
        return {
          description,
          hasData: stats.nodes > 0,
          detail: `${stats.nodes} nodes, ${stats.relationships} relationships`,
        };
      });
    } catch (error) {
      if (this.#config.offline === 'assume') {
        return { description, hasData: true, detail: 'DBMS stopped: contents unknown, treated as holding data' };
      }
      throw error;
    }
  }

  landing(destination: string | undefined): Landing | undefined {
    // A scratch server is loaded from the stream itself.
    if (destination !== undefined && this.#scratch.has(destination)) return undefined;
    return {
      folder: tmpdir(),
      why: 'the dump is downloaded to the temp folder before the database goes offline',
      hint: 'free space in the temp folder, or point TMPDIR at a folder with room for the dump',
    };
  }

  async restore(raw: Readable, destination: string | undefined, options: RestoreOptions): Promise<void> {
    const scratch = destination === undefined ? undefined : this.#scratch.get(destination);
    if (scratch !== undefined) {
      // A scratch server is loaded, checked, then started: once it runs, it takes no second restore.
      if (scratch.bolt !== undefined) {
        throw new LifeboatError(
          'DESTINATION_IN_USE',
          `neo4j: restore into scratch server ${destination}: it runs already, with the dump it was given`,
          { hint: 'a scratch server takes one restore: create a new one' },
        );
      }
      await this.#load(raw, this.#config.database, options.signal, scratch.server);
      scratch.loaded = true;
      return;
    }
    const database = destination ?? this.#config.database;
    // The backup is spooled to a local file first, proven as it flows: a store that stops answering, a
    // network that breaks or a full disk stops the restore before the database is touched, and the database
    // is offline for the load alone, not for the download as well.
    await withSpooledFile('neo4jrestore', 'neo4j.dump', raw, options.signal, (file) =>
      this.#loadOffline(file, database, options.signal),
    );
  }

  /** Takes the database offline, loads the spooled `file` into it, and brings it back, whatever happened. */
  async #loadOffline(file: string, database: string, signal: AbortSignal | undefined): Promise<void> {
    const stop = await this.#takeOffline(database);
    let failure: unknown;
    try {
      await this.#load(createReadStream(file), database, signal);
    } catch (error) {
      // neo4j-admin load overwrites the database in place: once it ran, a failure may leave part of it.
      failure =
        error instanceof LifeboatError && error.code === 'TOOL_MISSING'
          ? error
          : new RestoreLeftChanges(
              `neo4j: database ${database} may be left incomplete (neo4j-admin load overwrites it in place)`,
              error,
              error instanceof LifeboatError && error.hint !== undefined ? error.hint : 'restore it again with --force',
            );
    }
    try {
      await stop.bringBack();
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw failure;
  }

  async #load(raw: Readable, database: string, signal: AbortSignal | undefined, on?: ScratchServer): Promise<void> {
    const run: AdminRun = {
      args: ['database', 'load', database, '--from-stdin', '--overwrite-destination=true'],
      stdin: 'pipe',
      stdout: 'ignore',
    };
    const tool = on === undefined ? this.#access.admin(run) : on.admin(run);
    await feedTool(tool, raw, {
      driver: 'neo4j',
      name: 'neo4j-admin',
      stopped: 'its load cut short',
      signal,
      toolError: (error) => explainAdminError(error, database, this.#config),
    });
  }

  async createScratch(label: string, to: string | undefined): Promise<Scratch> {
    const server = await this.#access.createScratch(label, to);
    // A throwaway password for a server that lives for one drill; hex, never starting with "-" (neo4j-admin
    // would read a leading dash as an option).
    const password = `lb${randomBytes(18).toString('hex')}`;
    const scratch: DrillScratch = { server, password, loaded: false };
    this.#scratch.set(server.id, scratch);
    const drop = async () => {
      this.#scratch.delete(server.id);
      await server.drop();
    };
    try {
      await server.admin({ args: ['dbms', 'set-initial-password', password], stdout: 'ignore' }).exited;
    } catch (error) {
      await drop().catch(() => undefined);
      throw error;
    }
    return { destination: server.id, description: server.description, drop };
  }

  async inspectRestored(destination: string): Promise<RestoredState> {
    const scratch = this.#scratchOf(destination);
    const database = this.#config.database;
    const problems: string[] = [];
    // The consistency check runs on the loaded store before the scratch server starts.
    try {
      await scratch.server.admin({ args: ['database', 'check', database], stdout: 'ignore' }).exited;
    } catch (error) {
      problems.push(`consistency check: ${describeError(error)}`);
      return { integrity: CHECKED, problems, tables: [] };
    }
    const uri = await scratch.server.start();
    scratch.bolt = { uri, user: 'neo4j', password: scratch.password };
    await waitForBolt(scratch.bolt, parseDuration(this.#config.startTimeout), database);
    const stats = await withBolt(scratch.bolt, (driver) => graphStats(driver, database));
    return { integrity: CHECKED, problems, tables: stats.tables };
  }

  async queryValue(destination: string, cypher: string): Promise<unknown> {
    const bolt = this.#scratchOf(destination).bolt;
    if (bolt === undefined) throw new Error(`neo4j: the scratch server ${destination} has not started`);
    return withBolt(bolt, (driver) => queryValue(driver, this.#config.database, cypher));
  }

  #scratchOf(destination: string): DrillScratch {
    const scratch = this.#scratch.get(destination);
    if (scratch === undefined) throw new Error(`neo4j: ${destination} is not a scratch server of this drill`);
    return scratch;
  }
}

function explainAdminError(error: unknown, database: string, config: Neo4jTargetConfig): unknown {
  const message = describeError(error);
  if (/database is in use|in use by another process|Stop database .* and try again/i.test(message)) {
    return new LifeboatError('IN_USE', `neo4j: dump ${database}: the database is in use (${message})`, {
      cause: error,
      hint:
        config.offline === 'stop-start'
          ? 'the DBMS did not stop: check exec.stop'
          : 'Community can only dump a stopped DBMS: set offline: stop-start',
    });
  }
  if (/does not exist|not found|Database does not exist/i.test(message)) {
    return new LifeboatError('SOURCE', `neo4j: ${database}: ${message}`, {
      cause: error,
      hint: "check the target's database",
    });
  }
  return error;
}
