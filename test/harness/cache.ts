// The cache folder that scripts/install-test-servers.sh fills (LIFEBOAT_CACHE, or ~/.cache/lifeboat), and the
// commands it builds there.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CACHE = process.env.LIFEBOAT_CACHE ?? join(homedir(), '.cache', 'lifeboat');

/** `$CACHE/<name>/bin/<name>`, or the command `override` names (its LIFEBOAT_*_BIN variable); it must exist. */
export function cachedTool(name: string, override: string | undefined, what: string = name): string {
  const path = override ?? join(CACHE, name, 'bin', name);
  if (!existsSync(path)) throw new Error(`harness: no ${what} at ${path}; run scripts/install-test-servers.sh`);
  return path;
}
