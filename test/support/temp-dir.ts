// Each test file's temporary files, and those of the processes it starts, go to one folder of its own,
// removed when the file is done: a run leaves nothing in the system's temporary folder.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const scope = globalThis as { lifeboatTmpParent?: string };
// The folder the run started with, even when files share a worker and an earlier one set TMPDIR.
scope.lifeboatTmpParent ??= tmpdir();
const dir = mkdtempSync(join(scope.lifeboatTmpParent, 'lifeboat-test-'));
// As /tmp is: servers run as their own users (PostgreSQL's initdb as `postgres`) make their folders in it.
chmodSync(dir, 0o1777);
process.env.TMPDIR = dir;

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
