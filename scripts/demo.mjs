// `npm start`: Lifeboat's main job on the embedded default, with no servers: back up the bundled demo
// SQLite database to ./var/backups, then list and verify what was stored.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const config = fileURLToPath(new URL('../config/demo.yaml', import.meta.url));

function lifeboat(...args) {
  process.stdout.write(`\n$ lifeboat --config config/demo.yaml ${args.join(' ')}\n`);
  const result = spawnSync(process.execPath, [cli, '--config', config, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { LIFEBOAT_LOG_LEVEL: 'warn', ...process.env },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

lifeboat('backup');
lifeboat('list');
lifeboat('verify', 'demo');
process.stdout.write(
  '\nThe demo database is backed up, listed and verified. Backups are in ./var/backups/demo/.\n' +
    'Try: node dist/src/cli/main.js --config config/demo.yaml restore demo --to /tmp/demo-restored.db\n',
);
