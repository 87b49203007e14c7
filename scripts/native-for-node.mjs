// postinstall: makes better-sqlite3's native module match the Node.js that runs the project's scripts.
// `npm install` builds it for the Node.js that runs npm; npm's scripts run the Node.js 24 of the `node`
// devDependency (node_modules/.bin comes first on their PATH). When the two differ, it is rebuilt here with
// the headers that package ships, so nothing is fetched from outside the npm registry.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function loads() {
  const probe = spawnSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], {
    cwd: dirname(dirname(require.resolve('better-sqlite3/package.json'))),
    encoding: 'utf8',
  });
  return probe.status === 0;
}

if (!loads()) {
  const env = { ...process.env };
  // The headers of the running Node.js: the `node` package's platform binary carries them (include/node).
  try {
    const nodePackage = dirname(require.resolve('node/package.json'));
    const platform = createRequire(join(nodePackage, 'package.json')).resolve(
      `node-${process.platform}-${process.arch}/package.json`,
    );
    if (existsSync(join(dirname(platform), 'include', 'node'))) env.npm_config_nodedir = dirname(platform);
  } catch {
    // No `node` devDependency (a production install): node-gyp finds the headers of the running Node.js.
  }
  console.log(`postinstall: building better-sqlite3 for Node.js ${process.version}`);
  const rebuilt = spawnSync('npm', ['rebuild', 'better-sqlite3'], { stdio: 'inherit', env });
  if (rebuilt.status !== 0 || !loads()) {
    console.error(`postinstall: better-sqlite3 does not load on Node.js ${process.version}`);
    process.exit(1);
  }
}
