// Neo4j in a container, reached through the Docker Engine API on its unix socket (dockerode), as backup
// sidecars do: stop the Neo4j container, run neo4j-admin in a one-off container from the same image with the
// same volumes and environment (no network), stream its stdout (or feed its stdin), remove it, and start the
// Neo4j container again. No Docker CLI is needed.
import { PassThrough, Writable } from 'node:stream';
import Docker from 'dockerode';
import type { Neo4jTargetConfig } from '../../config/schema.js';
import { describeError, LifeboatError } from '../../errors.js';
import {
  type AdminProcess,
  type AdminRun,
  adminStderrFilter,
  type ConsoleServer,
  type Neo4jAccess,
} from './admin-access.js';

interface Described {
  readonly image: string;
  readonly env: string[];
  readonly user: string | undefined;
  readonly binds: string[];
  readonly mounts: Docker.MountSettings[];
}

export class DockerAccess implements Neo4jAccess {
  readonly #docker: Docker;
  readonly #name: string;
  readonly #socket: string;

  constructor(config: Neo4jTargetConfig) {
    if (config.docker === undefined) throw new Error('neo4j: access docker needs a docker section');
    this.#socket = config.docker.socket;
    this.#name = config.docker.container;
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
      try {
        oneOff = await this.#docker.createContainer({
          Image: described.image,
          Cmd: ['neo4j-admin', ...run.args],
          Env: described.env,
          User: described.user,
          AttachStdin: stdin !== null,
          AttachStdout: true,
          AttachStderr: true,
          OpenStdin: stdin !== null,
          StdinOnce: stdin !== null,
          Tty: false,
          Labels: { 'org.lifeboat.role': 'neo4j-admin', 'org.lifeboat.for': this.#name },
          HostConfig: { Binds: described.binds, Mounts: described.mounts, NetworkMode: 'none' },
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

  console(): ConsoleServer {
    throw new LifeboatError(
      'UNSUPPORTED',
      'neo4j: drills of docker targets (a throwaway container) are not available yet',
      {
        hint: 'drill this target from a Lifeboat on the database host (access: exec)',
      },
    );
  }
}
