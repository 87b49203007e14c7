// The `lifeboat` command as a bundle: dist/cli/lifeboat.js and its chunks, from tsc's dist/src/cli/main.js.
//
// Node.js loads an ES module graph file by file: about 400 files (zod, yaml, the S3 SDK, pg, pino, ...) for a
// backup, each resolved, read and compiled before the first byte is dumped. The bundle is a few files, one
// for start-up and one chunk for each command's code (still loaded only when that command runs). Packages
// with native code, or that load files of their own at run time, stay in node_modules.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { EXTERNAL } from './bundle-external.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/cli`;

await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { lifeboat: 'dist/src/cli/main.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: EXTERNAL,
  // CommonJS packages in an ES module bundle call require() for Node.js's own modules.
  banner: {
    js: "import { createRequire as lifeboatRequire } from 'node:module'; const require = lifeboatRequire(import.meta.url);",
  },
  legalComments: 'eof',
  logLevel: 'warning',
});
