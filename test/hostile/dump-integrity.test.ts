// No empty or cut-off dump is ever a success: stand-in pg_dump tools that exit 0 having written nothing or half
// of a real dump, in custom and plain format, against a real PostgreSQL; nothing is committed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, writeConfig } from '../harness/cli.js';
import { standInBinDir } from '../harness/pg-stand-in.js';
import { createTableDatabase, postgresTarget } from '../harness/postgres.js';
import { noStackTrace } from './hostile-support.js';

const pg = inject('postgres');

describe('empty and truncated dumps', () => {
  let database: string;
  let dir: string;

  beforeAll(async () => {
    database = await createTableDatabase(pg, 'trunc', 50000);
    dir = (await writeConfig({})).dir;
  });

  async function backupWith(bin: string, format: 'custom' | 'plain') {
    const { dir: cdir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [postgresTarget(pg, database, { name: 'db', binDir: bin, format })],
    });
    const result = await runCli(['--config', path, 'backup', 'db']);
    let stored: string[] = [];
    try {
      stored = readdirSync(join(cdir, 'store'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('manifest.json'));
    } catch {
      // no store folder: nothing was written at all
    }
    return { ...result, manifests: stored };
  }

  it('refuses a dump tool that exits 0 having written nothing', async () => {
    const bin = await standInBinDir(dir, 'empty', 'exit 0');
    for (const format of ['custom', 'plain'] as const) {
      const result = await backupWith(bin, format);
      expect(result.code, format).toBe(1);
      expect(result.stderr, format).toMatch(/wrote nothing|not a whole custom-format archive|lacks the closing/);
      expect(result.manifests, format).toEqual([]);
      noStackTrace(result.stderr);
    }
  });

  it('refuses a custom-format dump cut in half, and a plain one cut short, each exiting 0', async () => {
    const half =
      'TMP=$(mktemp); "$REAL" "$@" > "$TMP" || exit 1; SIZE=$(stat -c %s "$TMP"); head -c $((SIZE / 2)) "$TMP"; rm -f "$TMP"; exit 0';
    const bin = await standInBinDir(dir, 'half', half);
    const custom = await backupWith(bin, 'custom');
    expect(custom.code).toBe(1);
    expect(custom.stderr).toContain('pg_dump exited 0, but its output is not a whole custom-format archive');
    expect(custom.stderr).toMatch(/it ends after \d+ bytes, inside the data of TABLE DATA public.t/);
    expect(custom.stderr).toContain('Try: check pg_dump (binDir)');
    expect(custom.manifests).toEqual([]);
    const plain = await backupWith(bin, 'plain');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('lacks the closing "-- PostgreSQL database dump complete" line');
    expect(plain.manifests).toEqual([]);
  });

  it('refuses a whole, well-formed dump that lacks rows counted in its snapshot', async () => {
    // Custom format: the table's data left out; plain format: one row taken out of its COPY block.
    const custom = await backupWith(
      await standInBinDir(dir, 'no-data', 'exec "$REAL" "$@" --exclude-table-data=t'),
      'custom',
    );
    expect(custom.code).toBe(1);
    expect(custom.stderr).toContain(
      'postgres: the dump does not hold the rows counted in its snapshot: public.t: 50000 rows counted, none dumped',
    );
    expect(custom.manifests).toEqual([]);
    const tab = String.fromCharCode(9);
    const dropped = await standInBinDir(dir, 'one-row-less', `"$REAL" "$@" | grep -v '^17${tab}'`);
    const plain = await backupWith(dropped, 'plain');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('public.t: 50000 rows counted, 49999 dumped');
    expect(plain.manifests).toEqual([]);
    noStackTrace(plain.stderr);
  });

  it('commits the whole dump of the same stand-in when it does not cut', async () => {
    const bin = await standInBinDir(dir, 'whole', 'exec "$REAL" "$@"');
    for (const format of ['custom', 'plain'] as const) {
      const result = await backupWith(bin, format);
      expect(result.code, result.stderr).toBe(0);
      expect(result.manifests).toHaveLength(1);
    }
  });
});
