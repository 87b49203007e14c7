// The published package: what `npm pack` puts in it runs on its own, with only its dependencies beside it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../harness/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the npm package', () => {
  let dir: string;
  let pkg: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-pack-'));
    const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    expect(packed.status, packed.stderr).toBe(0);
    const tarball = packed.stdout.trim().split('\n').at(-1) as string;
    const unpacked = spawnSync('tar', ['xzf', join(dir, tarball), '-C', dir], { encoding: 'utf8' });
    expect(unpacked.status, unpacked.stderr).toBe(0);
    pkg = join(dir, 'package');
    // What `npm install` would put beside it: the dependencies (the bundle leaves the native ones out).
    await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The package's own `lifeboat` command, as its bin entry names it, run in the package. */
  function lifeboat(...args: string[]) {
    const bin = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { bin: { lifeboat: string } }).bin
      .lifeboat;
    return spawnSync(process.execPath, [...NODE_FLAGS, join(pkg, bin), ...args], { cwd: pkg, encoding: 'utf8' });
  }

  it('holds the bundle, not the compiler output it is made from', () => {
    expect(readdirSync(join(pkg, 'dist'))).toEqual(['cli']);
    expect(existsSync(join(pkg, 'config', 'lifeboat.schema.json'))).toBe(true);
  });

  it('backs up, restores and drills the demo database from the package alone', () => {
    const config = join(pkg, 'config', 'demo.yaml');
    for (const args of [
      ['backup', 'demo'],
      ['restore', 'demo', '--to', join(dir, 'restored.db')],
      ['drill', 'demo'],
    ]) {
      const result = lifeboat('--config', config, ...args);
      expect(result.status, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    expect(existsSync(join(dir, 'restored.db'))).toBe(true);
    expect(lifeboat('--config', config, 'list').stdout).toMatch(/demo\s+sqlite/);
  });
});
