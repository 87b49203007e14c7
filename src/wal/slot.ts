// The replication slot of a physical target: it keeps the server's WAL until Lifeboat has archived it.
import type { PostgresTargetConfig } from '../config/schema.js';
import { walSlot } from '../drivers/postgres/config.js';
import { connectionFromConfig, describeConnection, withClient } from '../drivers/postgres/connection.js';
import { LifeboatError } from '../errors.js';

/**
 * Creates the slot when it is missing, reserving WAL at once (so a base backup taken before the daemon first
 * streamed keeps its WAL), and returns its name. Lifeboat never drops it: a slot that goes away silently is
 * WAL that goes away silently.
 */
export async function ensureSlot(target: PostgresTargetConfig): Promise<string> {
  const slot = walSlot(target);
  const connection = connectionFromConfig(target);
  return withClient(connection, async (client) => {
    const found = await client.query('SELECT slot_type, restart_lsn FROM pg_replication_slots WHERE slot_name = $1', [
      slot,
    ]);
    const row = found.rows[0];
    if (row !== undefined) {
      if (row.slot_type !== 'physical') {
        throw new LifeboatError(
          'CONFIG',
          `wal: replication slot ${slot} on ${describeConnection(connection)} is not physical`,
          {
            exitCode: 2,
            hint: 'name another slot in wal.slot',
          },
        );
      }
      return slot;
    }
    await client
      .query('SELECT pg_create_physical_replication_slot($1, true)', [slot])
      .catch((error: { code?: string }) => {
        // Created meanwhile by another process (42710: duplicate object): the same slot, which is what we want.
        if (error.code !== '42710') throw error;
      });
    return slot;
  }).catch((error: unknown) => {
    if (error instanceof LifeboatError) throw error;
    const err = error as { code?: string; message?: string };
    throw new LifeboatError(
      'SOURCE',
      `wal: create replication slot ${slot} on ${describeConnection(connection)}: ${err.message}`,
      {
        cause: error,
        hint:
          err.code === '42501'
            ? 'the user needs the REPLICATION attribute (ALTER ROLE … REPLICATION)'
            : err.code === '53400'
              ? 'raise max_replication_slots on the server'
              : undefined,
      },
    );
  });
}
