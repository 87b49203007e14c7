// Work folders: what a process that is gone left behind is found again and removed, whatever made it.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeWorkDir, removeStaleWorkDirs } from '../../src/work-dir.js';

describe('work folders', () => {
  it('removes the folder of a process that is gone, for each kind the drivers use', async () => {
    const base = await mkdtemp(join(tmpdir(), 'lifeboat-wd-'));
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    const left: string[] = [];
    for (const kind of ['sqlite', 'verify', 'pgrestore', 'neo4jrestore', 'drill']) {
      const mine = await makeWorkDir(kind, base);
      const dead = join(base, basename(mine).replace(`.${process.pid}-`, `.${gone}-`));
      await rename(mine, dead);
      left.push(dead);
    }
    const alive = await makeWorkDir('sqlite', base);
    expect((await removeStaleWorkDirs(base)).sort()).toEqual(left.sort());
    expect(await readdir(base)).toEqual([basename(alive)]);
  });

  it('refuses a kind with a hyphen, which the sweep would read as part of the host name', async () => {
    await expect(makeWorkDir('neo4j-restore')).rejects.toThrow(
      'work-dir: kind "neo4j-restore" must be lowercase letters and digits',
    );
  });
});
