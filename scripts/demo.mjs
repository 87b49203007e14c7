// `npm start`: the Lifeboat daemon on the embedded default, with no servers: the bundled demo SQLite database
// is backed up every 10 seconds to ./var/backups, pruned by its retention policy, with metrics on.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/lifeboat.js', import.meta.url));
const config = fileURLToPath(new URL('../config/demo.yaml', import.meta.url));

process.stdout.write(
  [
    'Lifeboat daemon on config/demo.yaml (stop it with Ctrl-C):',
    '  backs up   config/demo/app.db (SQLite) every 10 seconds, keeps the newest 6 plus one per day',
    '  into       ./var/backups/demo/<id>/ (manifest.json is written last)',
    '  metrics    http://127.0.0.1:9464/metrics   health http://127.0.0.1:9464/healthz   /readyz',
    '  meanwhile  node dist/cli/lifeboat.js --config config/demo.yaml list',
    '             node dist/cli/lifeboat.js --config config/demo.yaml verify demo',
    '             node dist/cli/lifeboat.js --config config/demo.yaml restore demo --to /tmp/demo-restored.db',
    '             node dist/cli/lifeboat.js --config config/demo.yaml prune --dry-run',
    '',
  ].join('\n'),
);

const child = spawn(process.execPath, [cli, '--config', config, 'daemon'], { cwd: root, stdio: 'inherit' });
// Ctrl-C reaches the daemon itself (same process group; a second one would force it): only wait for it here.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
