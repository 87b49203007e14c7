import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no server and runs in seconds (`npm run test:unit`); `integration` starts the
// real servers once (test/global-setup.ts) for the files that use them. `npm test` runs both.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Temporary files go to a folder per test file, removed after it (test/support/temp-dir.ts).
    setupFiles: ['test/support/temp-dir.ts'],
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-results/junit.xml' },
    // A skipped or todo test fails the run: it is a promise not kept.
    allowOnly: false,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/{integration,hostile,conformance,browser,container}/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
