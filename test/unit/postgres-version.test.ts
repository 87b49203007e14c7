// pg_dump must be at least the server's major version; the refusal names both and says what to install.
import { describe, expect, it } from 'vitest';
import { assertDumpCanRead } from '../../src/drivers/postgres/postgres-driver.js';

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
