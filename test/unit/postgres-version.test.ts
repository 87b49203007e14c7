// pg_dump must be at least the server's major version (the refusal names both and says what to install); the row
// counts' settings are only those the server has.
import { describe, expect, it } from 'vitest';
import { assertDumpCanRead, countSettings } from '../../src/drivers/postgres/postgres-driver.js';

describe('assertDumpCanRead', () => {
  it('accepts a pg_dump of the same or a newer major version', () => {
    expect(() => assertDumpCanRead(15, 150018, 'u@h:5432/db')).not.toThrow();
    expect(() => assertDumpCanRead(17, 150018, 'u@h:5432/db')).not.toThrow();
  });

  it('refuses an older pg_dump, naming both versions and the fix', () => {
    try {
      assertDumpCanRead(15, 170002, 'u@h:5432/db');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'TOOL_VERSION',
        message: 'postgres: dump u@h:5432/db: pg_dump 15 is older than the server (17)',
        hint: 'install postgresql-client-17 or newer, or set binDir',
      });
    }
  });
});

describe('countSettings', () => {
  it('turns off parallel workers and JIT for the row counts, where the server has them', () => {
    expect(countSettings(170002)).toEqual(['SET LOCAL max_parallel_workers_per_gather = 0', 'SET LOCAL jit = off']);
    expect(countSettings(110000)).toEqual(['SET LOCAL max_parallel_workers_per_gather = 0', 'SET LOCAL jit = off']);
    // PostgreSQL 10 has parallel query but no JIT; 9.5 has neither: a name it does not know would fail the backup.
    expect(countSettings(100023)).toEqual(['SET LOCAL max_parallel_workers_per_gather = 0']);
    expect(countSettings(90525)).toEqual([]);
  });
});
