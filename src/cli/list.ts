// `lifeboat list [TARGET] [--json]`: committed backups, newest first.
import { type DamagedBackup, readCatalog } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { formatBytes } from '../format.js';
import { describeGap, readRecoveryState } from '../wal/state.js';
import { type CommandContext, selectTargets } from './context.js';

export async function listCommand(
  ctx: CommandContext,
  name: string | undefined,
  options: { json?: boolean },
): Promise<number> {
  const targets = selectTargets(ctx.config, name === undefined ? [] : [name]);
  const all: Manifest[] = [];
  const damaged: DamagedBackup[] = [];
  for (const target of targets) {
    const catalog = await readCatalog(ctx.storage, target.name);
    all.push(...catalog.backups);
    damaged.push(...catalog.damaged);
  }
  all.sort((a, b) => (a.snapshotAt < b.snapshotAt ? 1 : a.snapshotAt > b.snapshotAt ? -1 : 0));
  if (options.json) {
    const recovery = [];
    for (const target of targets) {
      if (target.driver !== 'postgres' || target.method !== 'physical') continue;
      const state = await readRecoveryState(ctx.storage, target.name);
      const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
      recovery.push({
        target: target.name,
        walFiles: state.entries.length,
        windows: state.windows.map((w) => ({ ...w, from: iso(w.from), to: iso(w.to) })),
        gaps: state.gaps.map((g) => ({ ...g, after: iso(g.after), message: describeGap(g) })),
      });
    }
    if (recovery.length > 0) {
      const entries = [...all, ...damaged.map((d) => ({ id: d.id, target: d.target, damaged: d.problem }))];
      process.stdout.write(`${JSON.stringify({ backups: entries, recovery }, null, 2)}\n`);
      return 0;
    }
    // Damaged backups are entries of their own: { id, target, damaged: "<what is wrong>" }.
    const entries = [...all, ...damaged.map((d) => ({ id: d.id, target: d.target, damaged: d.problem }))];
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  const physical = targets.some((t) => t.driver === 'postgres' && t.method === 'physical');
  if (all.length === 0 && damaged.length === 0 && !physical) {
    process.stdout.write(`no backups in ${ctx.storage.location}\n`);
    return 0;
  }
  const rows = all.map((m) => {
    const stored = m.artifacts.reduce((sum, a) => sum + a.size, 0);
    const raw = m.artifacts.reduce((sum, a) => sum + a.rawSize, 0);
    const encrypted = m.artifacts.some((a) => a.encryption !== undefined) ? 'age' : '-';
    return [m.id, m.target, m.driver, m.snapshotAt, formatBytes(stored), formatBytes(raw), encrypted];
  });
  for (const d of damaged) rows.push([d.id, d.target, 'DAMAGED', '-', '-', '-', '-']);
  printTable(['ID', 'TARGET', 'DRIVER', 'SNAPSHOT AT', 'STORED', 'RAW', 'ENCRYPTED'], rows);
  for (const d of damaged) process.stderr.write(`damaged: ${d.target}/${d.id}: ${d.problem}\n`);
  for (const target of targets) {
    if (target.driver !== 'postgres' || target.method !== 'physical') continue;
    const state = await readRecoveryState(ctx.storage, target.name);
    process.stdout.write(`\n${target.name}: point-in-time recovery (${state.entries.length} WAL files archived)\n`);
    if (state.windows.length === 0) process.stdout.write('  no recoverable window yet\n');
    for (const w of state.windows) {
      process.stdout.write(
        `  timeline ${w.timeline}: from ${new Date(w.from).toISOString()} to ${new Date(w.to).toISOString()}\n`,
      );
    }
    for (const gap of state.gaps) process.stdout.write(`  gap: ${describeGap(gap)}\n`);
  }
  return 0;
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
}
