// Every storage backend runs the storage contract; every driver has an end-to-end test file and runs the
// driver contract (test/conformance/driver-suite.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DRIVER_NAMES, STORAGE_TYPES } from '../../src/config/schema.js';

const folders = (path: string) =>
  readdirSync(new URL(path, import.meta.url), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

describe('architecture', () => {
  it('each folder under src/storage is a configurable type and runs the storage contract', () => {
    const contract = readFileSync(new URL('../conformance/storage.test.ts', import.meta.url), 'utf8');
    expect(folders('../../src/storage/')).toEqual([...STORAGE_TYPES].sort());
    for (const type of STORAGE_TYPES) {
      expect(contract).toMatch(new RegExp(`describeStorage\\('${type}\\b`));
      // Its config section lives in its own folder.
      expect(existsSync(new URL(`../../src/storage/${type}/config.ts`, import.meta.url)), type).toBe(true);
    }
  });

  it('each folder under src/drivers is a configurable driver with its own integration test and the driver contract', () => {
    expect(folders('../../src/drivers/')).toEqual([...DRIVER_NAMES].sort());
    const tests = readdirSync(new URL('../integration/', import.meta.url));
    for (const driver of DRIVER_NAMES) {
      expect(tests).toContain(`${driver}.test.ts`);
      const contract = readFileSync(new URL(`../conformance/driver-${driver}.test.ts`, import.meta.url), 'utf8');
      expect(contract).toMatch(new RegExp(`describeDriver\\('${driver}',`));
      expect(existsSync(new URL(`../../src/drivers/${driver}/config.ts`, import.meta.url)), driver).toBe(true);
    }
  });
});
