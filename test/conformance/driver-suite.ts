// The contract every driver must pass, hostile cases included, against its real engine: a dump restored into
// a scratch place holds the tables and rows counted in the dump's snapshot; a restore over data is refused
// unless forced; an abort mid-dump leaves no child process and no object; a scratch place can be dropped
// twice; and, for drivers that run a dump tool, a tool that exits 0 having written nothing or half its output
// commits nothing.
import { createReadStream, createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import type { TargetConfig } from '../../src/config/schema.js';
import { restoreInto } from '../../src/core/restore-into.js';
import { runBackup } from '../../src/core/run-backup.js';
import { createDriver } from '../../src/drivers/create-driver.js';
import { createLogger } from '../../src/log.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { waitForCondition } from '../hostile/hostile-support.js';

export interface DriverFixture {
  /** A live target holding data, ready when the file's cases run (made in the file's beforeAll). */
  target(): TargetConfig;
  /** Process names (`comm`) of the tools a dump runs; none may be left once an aborted backup settled. */
  readonly tools: readonly string[];
  /** The target with a dump tool that exits 0 having written nothing, or half its output (tool drivers). */
  brokenTool?(kind: 'empty' | 'half'): Promise<TargetConfig>;
  /**
   * False when a scratch place takes one restore only (Neo4j: a scratch server is loaded, checked, started):
   * a forced second restore into it must then be refused as in use, not replace it.
   */
  readonly scratchTakesRestoreAgain?: boolean;
  /** Per case (default 60 s): a stop-start engine takes minutes, not seconds. */
  readonly timeoutMs?: number;
}

const logger = createLogger('silent');

async function freshStore(): Promise<Storage> {
  return new LocalStorage({ path: await mkdtemp(join(tmpdir(), 'lifeboat-conformance-')), prefix: '' });
}

async function keys(storage: Storage): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list('')) found.push(object.key);
  return found;
}

/** Child processes of this process whose name is one of `names`, read from /proc. */
function children(names: readonly string[]): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && names.includes(comm)) found.push(`${comm} (pid ${entry})`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const byName = <T extends { name: string }>(tables: readonly T[]) =>
  [...tables]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((t) => ({ name: t.name, rows: (t as { rows?: number }).rows }));

export function describeDriver(name: string, fixture: DriverFixture): void {
  describe(`driver contract: ${name}`, { timeout: fixture.timeoutMs ?? 60_000 }, () => {
    it('restores a dump into a scratch place that then holds the tables and rows counted in the snapshot; over data only when forced', async () => {
      const target = fixture.target();
      const driver = await createDriver(target);
      const session = await driver.dump();
      const file = join(await mkdtemp(join(tmpdir(), 'lifeboat-conformance-')), session.fileName);
      await pipeline(session.stream, createWriteStream(file));
      await session.done;
      expect(session.stats.tables.length).toBeGreaterThan(0);
      const scratch = await driver.createScratch('conformance', undefined);
      try {
        expect((await driver.inspectDestination(scratch.destination)).hasData).toBe(false);
        await restoreInto(driver, createReadStream(file), scratch.destination, { force: false });
        const restored = await driver.inspectRestored(scratch.destination);
        expect(restored.problems).toEqual([]);
        expect(byName(restored.tables)).toEqual(byName(session.stats.tables));

        // Now it holds data: refused without force, and the data stays as it was.
        await expect(
          restoreInto(driver, createReadStream(file), scratch.destination, { force: false }),
        ).rejects.toMatchObject({ code: 'DESTINATION_NOT_EMPTY', message: expect.stringContaining('holds data') });
        if (fixture.scratchTakesRestoreAgain === false) {
          await expect(
            restoreInto(driver, createReadStream(file), scratch.destination, { force: true }),
          ).rejects.toMatchObject({ code: 'DESTINATION_IN_USE' });
        } else {
          await restoreInto(driver, createReadStream(file), scratch.destination, { force: true });
          expect(byName((await driver.inspectRestored(scratch.destination)).tables)).toEqual(
            byName(session.stats.tables),
          );
        }
      } finally {
        await scratch.drop();
      }
    });

    it('drops a scratch place twice without an error', async () => {
      const driver = await createDriver(fixture.target());
      const scratch = await driver.createScratch('conformance-twice', undefined);
      await scratch.drop();
      await expect(scratch.drop()).resolves.toBeUndefined();
    });

    it('leaves no child process and no object when a backup is aborted mid-dump', async () => {
      const storage = await freshStore();
      const controller = new AbortController();
      const backup = runBackup({
        storage,
        target: fixture.target(),
        logger,
        verifyUpload: 'checksum',
        signal: controller.signal,
        onProgress: () => controller.abort(new Error('stopped by the test')),
      });
      await expect(backup).rejects.toMatchObject({ name: 'BackupFailedError', interrupted: true, cleanedUp: true });
      expect(await keys(storage)).toEqual([]);
      // A killed tool is reaped by its parent: wait for that, not for a fixed time.
      await waitForCondition(() => children(fixture.tools).length === 0, 30_000).catch(() => undefined);
      expect(children(fixture.tools)).toEqual([]);
    });

    const broken = fixture.brokenTool;
    if (broken !== undefined) {
      it('commits nothing when the dump tool exits 0 having written nothing, or half its output', async () => {
        // Nothing at all may be caught by the format check (no header) before the empty-dump rule.
        for (const [kind, codes] of [
          ['empty', ['DUMP_EMPTY', 'DUMP_INCOMPLETE']],
          ['half', ['DUMP_INCOMPLETE']],
        ] as const) {
          const storage = await freshStore();
          const backup = runBackup({ storage, target: await broken(kind), logger, verifyUpload: 'checksum' });
          await expect(backup, kind).rejects.toMatchObject({ name: 'BackupFailedError', cleanedUp: true });
          const error = await backup.catch((e: unknown) => e as { cause?: { code?: string } });
          expect(codes, kind).toContain(error.cause?.code);
          expect(await keys(storage), kind).toEqual([]);
        }
      });
    }
  });
}
