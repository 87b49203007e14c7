// The Lifeboat image, built from the Dockerfile on the tests' Docker engine as a user builds it, with the two
// build arguments that swap in local stand-ins where Docker Hub and the PostgreSQL apt repository cannot be
// reached (NODE_IMAGE and DEBIAN_IMAGE: the bases that scripts/install-test-servers.sh makes from Debian and
// npm packages; POSTGRES_APT=debian). And
// the `docker` command line, pointed at that engine.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CACHE } from './cache.js';
import { type CliResult, captured } from './cli.js';
import type { DockerEngine, TestImages } from './docker.js';
import { waitFor } from './free-port.js';

// The project root: above test/harness, or above dist/test/harness in the build.
const ROOT = [join(import.meta.dirname, '..', '..'), join(import.meta.dirname, '..', '..', '..')].find((dir) =>
  existsSync(join(dir, 'Dockerfile')),
) as string;

export type CommandResult = CliResult;

/** Runs a command with DOCKER_HOST set to the engine; never throws on a non-zero exit. */
export function onEngine(
  engine: DockerEngine,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<CommandResult> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, DOCKER_HOST: `unix://${engine.socket}`, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.input ?? '');
  return captured(child);
}

/** `docker run` options of a hardened Lifeboat container, as the compose example sets them. */
export const HARDENED = [
  '--read-only',
  '--tmpfs',
  '/tmp',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges:true',
] as const;

/** `docker …` on the engine. */
export function docker(engine: DockerEngine, args: readonly string[], input?: string): Promise<CommandResult> {
  return onEngine(engine, 'docker', args, { input });
}

/** `docker …` that must succeed; its stdout. */
export async function dockerOk(engine: DockerEngine, args: readonly string[]): Promise<string> {
  const result = await docker(engine, args);
  if (result.code !== 0) {
    throw new Error(`docker ${args.join(' ')}: exit ${result.code}: ${result.stderr.slice(-2000)}`);
  }
  return result.stdout;
}

export interface BuiltImage {
  readonly name: string;
  /** Wall time of this build, in seconds (short when the engine's layer cache already holds every step). */
  readonly seconds: number;
  /** Size of the image, bytes, as `docker image inspect` gives it. */
  readonly bytes: number;
}

export const LIFEBOAT_IMAGE = 'lifeboat-test/lifeboat:latest';

/**
 * Time for a `beforeAll` that builds the image: a cold build on a loaded 2-core machine takes minutes, and a
 * file in another worker may hold the build lock (up to 20 minutes) first.
 */
export const IMAGE_BUILD_HOOK_TIMEOUT = 30 * 60_000;

/**
 * Builds the Dockerfile. One build at a time per cache folder (test files in other workers wait, then find
 * the layer cache full): a lock directory, taken atomically, removed when the build ends.
 */
export async function buildLifeboatImage(engine: DockerEngine, images: TestImages): Promise<BuiltImage> {
  await mkdir(CACHE, { recursive: true });
  const lock = join(CACHE, 'lifeboat-image.lock');
  // Only a lock held by another build is waited for; any other failure to take it (a folder not writable) ends
  // the wait at once and is thrown.
  let failure: unknown;
  await waitFor(
    'the lock of the Lifeboat image build',
    async () => {
      try {
        await mkdir(lock);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          failure = error;
          return true;
        }
        // A lock older than a build can take is left by a killed run.
        const age = Date.now() - (await stat(lock)).mtimeMs;
        if (age > 20 * 60_000) await rm(lock, { recursive: true, force: true });
        return false;
      }
    },
    20 * 60_000,
  );
  if (failure !== undefined) throw failure;
  try {
    const started = Date.now();
    const build = await onEngine(
      engine,
      'docker',
      [
        'build',
        '--build-arg',
        `NODE_IMAGE=${images.node}`,
        '--build-arg',
        `DEBIAN_IMAGE=${images.debian}`,
        '--build-arg',
        'POSTGRES_APT=debian',
        '--tag',
        LIFEBOAT_IMAGE,
        '.',
      ],
      // The classic builder: Debian's docker.io has no buildx; the Dockerfile needs nothing BuildKit adds.
      { env: { DOCKER_BUILDKIT: '0' } },
    );
    if (build.code !== 0) {
      throw new Error(
        `harness: docker build failed (exit ${build.code}):\n${(build.stdout + build.stderr).slice(-4000)}`,
      );
    }
    const seconds = (Date.now() - started) / 1000;
    const bytes = Number(
      (await dockerOk(engine, ['image', 'inspect', '--format', '{{.Size}}', LIFEBOAT_IMAGE])).trim(),
    );
    return { name: LIFEBOAT_IMAGE, seconds, bytes };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
