// A binDir of PostgreSQL client tools where one of pg_dump and pg_restore is a stand-in: a shell snippet that
// may record, cut, hold or replace what the real tool does. The others, and `--version`, are the real ones.
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { postgresBinDir } from './postgres.js';

const TOOLS = ['pg_dump', 'pg_restore', 'psql'] as const;

/** Creates `dir/name` with the tools; in `body`, "$REAL" is the real `tool` and "$BIN" the new folder. */
export async function standInBinDir(
  dir: string,
  name: string,
  body: string,
  tool: 'pg_dump' | 'pg_restore' = 'pg_dump',
): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  const real = postgresBinDir();
  for (const other of TOOLS.filter((t) => t !== tool)) {
    writeFileSync(join(bin, other), `#!/bin/sh\nexec "${real}/${other}" "$@"\n`);
    chmodSync(join(bin, other), 0o755);
  }
  // `--version` is always the real one's: Lifeboat checks it against the server before dumping.
  const version = 'case "$1" in --version) exec "$REAL" "$@";; esac';
  writeFileSync(join(bin, tool), `#!/bin/sh\nREAL="${real}/${tool}"\nBIN="${bin}"\n${version}\n${body}\n`);
  chmodSync(join(bin, tool), 0o755);
  return bin;
}
