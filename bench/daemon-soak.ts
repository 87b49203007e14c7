// `npm run bench:soak`: the daemon's memory over many scheduled backups of the demo SQLite database (one per
// second, pruned to the newest 10). Samples RSS and heap from its own /metrics; prints figures, asserts nothing.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, NODE_FLAGS } from '../test/harness/cli.js';

const RUNS = Number(process.env.LIFEBOAT_SOAK_RUNS ?? 200);
const DEMO_DB = new URL('../../config/demo/app.db', import.meta.url).pathname;

function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-soak-'));
  await copyFile(DEMO_DB, join(dir, 'app.db'));
  await writeFile(
    join(dir, 'lifeboat.yaml'),
    stringify({
      storage: { type: 'local', path: './store' },
      defaults: { schedule: '* * * * * *', retention: { last: 10 }, retries: 0 },
      metrics: { listen: '127.0.0.1:0' },
      targets: [{ name: 'demo', driver: 'sqlite', path: './app.db' }],
    }),
  );
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, '--config', join(dir, 'lifeboat.yaml'), 'daemon'], {
    env: { ...process.env, LIFEBOAT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const match = /metrics at (http:\/\/\S+)\/metrics/.exec(stderr);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`daemon exited with ${code}:\n${stderr}`)));
  });
  const rows: { runs: number; rss: number; heap: number }[] = [];
  let next = 0;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const runs = sample(text, 'lifeboat_backup_runs_total', '{target="demo",result="success"}');
    const failed = sample(text, 'lifeboat_backup_runs_total', '{target="demo",result="failure"}');
    if (failed > 0) throw new Error(`soak: ${failed} failed runs:\n${stderr}`);
    if (runs >= next || runs >= RUNS) {
      rows.push({
        runs,
        rss: sample(text, 'process_resident_memory_bytes'),
        heap: sample(text, 'nodejs_heap_size_used_bytes'),
      });
      process.stdout.write(
        `${String(runs).padStart(5)} backups  RSS ${((rows.at(-1)?.rss ?? 0) / 1e6).toFixed(1)} MB\n`,
      );
      next = runs + Math.max(1, Math.floor(RUNS / 10));
    }
    if (runs >= RUNS) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
  const warm = rows[1] ?? rows[0];
  const last = rows.at(-1);
  if (warm === undefined || last === undefined) throw new Error('soak: no samples');
  process.stdout.write(
    `\n${'backups'.padStart(8)}  ${'RSS MB'.padStart(8)}  ${'heap MB'.padStart(8)}\n` +
      rows
        .map(
          (r) =>
            `${String(r.runs).padStart(8)}  ${(r.rss / 1e6).toFixed(1).padStart(8)}  ${(r.heap / 1e6).toFixed(1).padStart(8)}`,
        )
        .join('\n') +
      `\n\nafter ${last.runs} backups: RSS ${(last.rss / 1e6).toFixed(1)} MB = ${(last.rss / warm.rss).toFixed(2)}x ` +
      `the RSS after ${warm.runs}; heap ${(last.heap / 1e6).toFixed(1)} MB = ${(last.heap / warm.heap).toFixed(2)}x\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
