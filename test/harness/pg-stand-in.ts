// A binDir of PostgreSQL client tools whose pg_dump is a stand-in: a shell snippet that may record, cut or
// replace what the real pg_dump writes. pg_restore and psql, and pg_dump --version, are the real ones.
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { postgresBinDir } from './postgres.js';

/** Creates `dir/name` with the tools; in `body`, "$REAL" is the real pg_dump and "$BIN" the new folder. */
export async function standInBinDir(dir: string, name: string, body: string): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  const real = postgresBinDir();
  for (const tool of ['pg_restore', 'psql']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\nexec "${real}/${tool}" "$@"\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  // `--version` is always the real one's: Lifeboat checks it against the server before dumping.
  const version = 'case "$1" in --version) exec "$REAL" "$@";; esac';
  writeFileSync(join(bin, 'pg_dump'), `#!/bin/sh\nREAL="${real}/pg_dump"\nBIN="${bin}"\n${version}\n${body}\n`);
  chmodSync(join(bin, 'pg_dump'), 0o755);
  return bin;
}
