// The replication slot of a physical target: it keeps the server's WAL until Lifeboat has archived it.
import type { PostgresTargetConfig } from '../config/schema.js';
import { walSlot } from '../drivers/postgres/config.js';
import { connectionFromConfig, libpqEnv } from '../drivers/postgres/connection.js';
import { runTool, toolPath } from '../drivers/run-tool.js';

/**
 * Creates the slot when it is missing (`pg_receivewal --create-slot --if-not-exists`, which reserves WAL at
 * once). Lifeboat never drops it: a slot that goes away silently is WAL that goes away silently.
 */
export async function ensureSlot(target: PostgresTargetConfig): Promise<string> {
  const slot = walSlot(target);
  const create = runTool(
    'wal',
    toolPath('pg_receivewal', target.binDir),
    ['--create-slot', '--if-not-exists', `--slot=${slot}`, '--no-password'],
    { env: libpqEnv(connectionFromConfig(target)), name: 'pg_receivewal' },
  );
  await create.exited;
  return slot;
}
