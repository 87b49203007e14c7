// Neo4j in a container, reached through the Docker Engine API on its unix socket (dockerode), as backup
// sidecars do: stop the Neo4j container, run neo4j-admin in a one-off container from the same image with the
// same volumes and environment (no network), stream its stdout (or feed its stdin), remove it, and start the
// Neo4j container again. Drills do the same on a new volume and start a throwaway container from the same
// image on it. No Docker CLI is needed.
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import Docker from 'dockerode';
import type { Neo4jTargetConfig } from '../../config/schema.js';
import { describeError, LifeboatError } from '../../errors.js';
import {
  type AdminProcess,
  type AdminRun,
  adminStderrFilter,
  type Neo4jAccess,
  SCRATCH_MEMORY,
  type ScratchServer,
} from './admin-access.js';

interface Described {
  readonly image: string;
  readonly env: string[];
  readonly user: string | undefined;
  readonly binds: string[];
  readonly mounts: Docker.MountSettings[];
  /** The first network the container is attached to. */
  readonly network: string | undefined;
}

/** Where a one-off neo4j-admin container runs: its volumes and environment. */
interface OneOffPlace {
  readonly binds: string[];
  readonly mounts: Docker.MountSettings[];
  readonly env: string[];
}

const LABELS = { role: 'org.lifeboat.role', for: 'org.lifeboat.for' };

export class DockerAccess implements Neo4jAccess {
  readonly #docker: Docker;
  readonly #name: string;
  readonly #socket: string;
  readonly #settings: NonNullable<Neo4jTargetConfig['docker']>;
  readonly #target: string;

  constructor(config: Neo4jTargetConfig) {
    if (config.docker === undefined) throw new Error('neo4j: access docker needs a docker section');
    this.#settings = config.docker;
    this.#socket = config.docker.socket;
    this.#name = config.docker.container;
    this.#target = config.name;
    this.#docker = new Docker({ socketPath: this.#socket });
  }

  #fail(verb: string, error: unknown): LifeboatError {
    const status = (error as { statusCode?: number }).statusCode;
    const code = (error as NodeJS.ErrnoException).code;
    return new LifeboatError('DOCKER', `neo4j: docker: ${verb} ${this.#name}: ${describeError(error)}`, {
      cause: error,
      hint:
        code === 'ENOENT' || code === 'EACCES'
          ? `mount the Docker socket (${this.#socket}) into Lifeboat's container, readable by its user`
          : status === 404
            ? 'check docker.container: no container of that name'
            : undefined,
    });
  }

  async #describe(): Promise<Described> {
    try {
      const info = await this.#docker.getContainer(this.#name).inspect();
      return {
        image: info.Config.Image,
        env: info.Config.Env ?? [],
        user: info.Config.User === '' ? undefined : info.Config.User,
        binds: info.HostConfig.Binds ?? [],
        mounts: (info.HostConfig as { Mounts?: Docker.MountSettings[] }).Mounts ?? [],
        network: Object.keys(info.NetworkSettings?.Networks ?? {})[0],
      };
    } catch (error) {
      throw this.#fail('inspect', error);
    }
  }

  async stopDbms(): Promise<void> {
    try {
      await this.#docker.getContainer(this.#name).stop({ t: 120 });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 304) throw this.#fail('stop', error); // 304: stopped
    }
  }

  async startDbms(): Promise<void> {
    try {
      await this.#docker.getContainer(this.#name).start();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 304) throw this.#fail('start', error); // 304: running
    }
  }

  admin(run: AdminRun): AdminProcess {
    return this.#oneOff(run, (described) => described);
  }

  /** neo4j-admin in a one-off container from the Neo4j container's image, at `place`, without network. */
  #oneOff(run: AdminRun, place: (described: Described) => OneOffPlace): AdminProcess {
    const stdout = new PassThrough();
    const stdin = run.stdin === 'pipe' ? new PassThrough() : null;
    let stderr = '';
    const stderrSink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        stderr = (stderr + chunk.toString()).slice(-16 * 1024);
        callback();
      },
    });
    let oneOff: Docker.Container | undefined;
    let killed = false;
    let finished = false;
    const exited = (async () => {
      const described = await this.#describe();
      const at = place(described);
      try {
        oneOff = await this.#docker.createContainer({
          Image: described.image,
          Cmd: ['neo4j-admin', ...run.args],
          Env: at.env,
          User: described.user,
          AttachStdin: stdin !== null,
          AttachStdout: true,
          AttachStderr: true,
          OpenStdin: stdin !== null,
          StdinOnce: stdin !== null,
          Tty: false,
          Labels: { [LABELS.role]: 'neo4j-admin', [LABELS.for]: this.#name },
          HostConfig: { Binds: at.binds, Mounts: at.mounts, NetworkMode: 'none' },
        });
      } catch (error) {
        throw this.#fail('create a neo4j-admin container for', error);
      }
      const container = oneOff;
      try {
        const stream = (await container.attach({
          stream: true,
          stdout: true,
          stderr: true,
          stdin: stdin !== null,
          hijack: stdin !== null,
        })) as NodeJS.ReadWriteStream;
        const ended = new Promise<void>((resolve) => {
          stream.once('end', resolve);
          stream.once('close', resolve);
        });
        this.#docker.modem.demuxStream(stream, stdout, stderrSink);
        if (stdin !== null) stdin.pipe(stream as unknown as NodeJS.WritableStream);
        await container.start();
        if (killed) await container.kill().catch(() => undefined);
        const result = (await container.wait()) as { StatusCode: number };
        await ended;
        if (result.StatusCode !== 0) {
          const detail = stderr.split('\n').filter(adminStderrFilter).slice(-8).join('\n').trim();
          throw new LifeboatError(
            'TOOL_FAILED',
            `neo4j: neo4j-admin failed (exit code ${result.StatusCode} in a container of ${described.image})${detail === '' ? '' : `: ${detail}`}`,
          );
        }
      } finally {
        finished = true;
        stdout.end();
        await container.remove({ force: true }).catch(() => undefined);
      }
    })();
    // A failure reaches the caller through `exited`; the output just ends.
    exited.catch(() => stdout.end());
    return {
      stdout,
      stdin,
      exited,
      kill: () => {
        if (finished) return;
        killed = true;
        oneOff?.kill().catch(() => undefined);
      },
    };
  }

  /**
   * A new volume for the scratch store, mounted at `docker.dataPath` in place of the live data; neo4j-admin
   * runs on it in one-off containers, and the scratch server in a throwaway container from the same image on
   * the live container's network (or `docker.network`), reached at its address there.
   */
  async createScratch(label: string, _to: string | undefined): Promise<ScratchServer> {
    const described = await this.#describe();
    const network = this.#settings.network ?? described.network;
    if (network === undefined || network === 'host' || network === 'none') {
      throw new LifeboatError(
        'CONFIG',
        `neo4j: drill: the container ${this.#name} has network ${network ?? '(none)'}: a scratch container there could not be reached`,
        { hint: 'set docker.network to a network that Lifeboat and a new container share' },
      );
    }
    const volume = `lifeboat-drill-${label}-${randomBytes(4).toString('hex')}`;
    const labels = { [LABELS.role]: 'drill-scratch', [LABELS.for]: this.#target };
    try {
      await this.#docker.createVolume({ Name: volume, Labels: labels });
    } catch (error) {
      throw this.#fail('create a scratch volume for', error);
    }
    const at: OneOffPlace = {
      binds: [`${volume}:${this.#settings.dataPath}`],
      mounts: [],
      env: scratchEnv(described.env),
    };
    let server: Docker.Container | undefined;
    return {
      id: volume,
      description: `scratch Neo4j container on volume ${volume} (network ${network})`,
      admin: (run) => this.#oneOff(run, () => at),
      start: async () => {
        try {
          server = await this.#docker.createContainer({
            name: volume,
            Image: described.image,
            Env: at.env,
            User: described.user,
            Labels: labels,
            HostConfig: { Binds: at.binds, NetworkMode: network },
          });
          await server.start();
          const info = await server.inspect();
          const address = info.NetworkSettings.Networks[network]?.IPAddress;
          if (address === undefined || address === '') throw new Error(`no address on network ${network}`);
          return `bolt://${address}:7687`;
        } catch (error) {
          throw this.#fail('start a scratch container for', error);
        }
      },
      drop: async () => {
        await server?.remove({ force: true }).catch(() => undefined);
        server = undefined;
        await this.#docker
          .getVolume(volume)
          .remove()
          .catch((error: { statusCode?: number }) => {
            if (error.statusCode !== 404) throw this.#fail(`remove the scratch volume ${volume} of`, error);
          });
      },
    };
  }
}

/** The live container's environment for a scratch server: no live password, its own Bolt port, small memory. */
export function scratchEnv(live: readonly string[]): string[] {
  const dropped = /^NEO4J_(AUTH|server_bolt_|server_memory_)/;
  // As the official image reads them: NEO4J_server_memory_heap_max__size=1g is server.memory.heap.max_size=1g.
  const asEnv = (key: string) => `NEO4J_${key.replaceAll('_', '__').replaceAll('.', '_')}`;
  return [
    ...live.filter((entry) => !dropped.test(entry)),
    `${asEnv('server.bolt.listen_address')}=:7687`,
    ...SCRATCH_MEMORY.map(([key, value]) => `${asEnv(key)}=${value}`),
  ];
}
