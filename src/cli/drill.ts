// `lifeboat drill [TARGET...] [--backup ID] [--report DIR] [--json]`: test restores now, into scratch places.
import { now as wallNow } from '../clock.js';
import { parseDuration } from '../config/duration.js';
import { encryptionFor } from '../config/encryption.js';
import { formatDuration } from '../format.js';
import { buildReport } from '../report/report.js';
import { storageForRun } from '../storage/throttled-storage.js';
import type { DrillRecord } from '../verify/drill-record.js';
import { runDrill } from '../verify/run-drill.js';
import { type CommandContext, selectTargets } from './context.js';
import { writeReports } from './report.js';

export interface DrillFlags {
  backup?: string;
  report?: string;
  json?: boolean;
}

export async function drillCommand(ctx: CommandContext, names: string[], flags: DrillFlags): Promise<number> {
  const targets = selectTargets(ctx.config, names);
  const records: DrillRecord[] = [];
  for (const target of targets) {
    const tty = process.stderr.isTTY === true && !flags.json;
    const record = await runDrill({
      storage: storageForRun(ctx.storage, ctx.config, target),
      target,
      logger: ctx.logger,
      backupId: flags.backup,
      signal: ctx.signal,
      encryption: encryptionFor(ctx.config, target),
      onStage: tty ? (stage) => process.stderr.write(`drill ${target.name}: ${stage}...\n`) : undefined,
    });
    records.push(record);
    if (!flags.json) printRecord(record);
    if (ctx.signal.aborted) break;
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
  if (flags.report !== undefined) {
    const now = wallNow();
    const window = Math.max(...targets.map((t) => parseDuration(t.drill?.window ?? '30d')));
    const report = await buildReport(ctx.storage, targets, new Date(now.getTime() - window), now);
    const paths = await writeReports(flags.report, report);
    process.stderr.write(`reports: ${paths.join(', ')}\n`);
  }
  return records.every((r) => r.ok) ? 0 : 1;
}

function printRecord(r: DrillRecord): void {
  const s = (seconds: number | undefined) => (seconds === undefined ? '-' : formatDuration(seconds * 1000));
  const head = r.ok
    ? `${r.target}: drill passed`
    : `${r.target}: drill FAILED at ${r.failure?.stage}: ${r.failure?.message}`;
  process.stdout.write(`${head}\n`);
  if (r.failure?.hint !== undefined) process.stdout.write(`  Try: ${r.failure.hint}\n`);
  if (r.backup !== undefined) {
    process.stdout.write(`  backup   ${r.backup.id} (data ${s(r.dataAgeSeconds)} old)\n`);
  }
  const t = r.timings;
  process.stdout.write(
    `  timings  download ${s(t.download)}  verify ${s(t.verify)}  restore ${s(t.restore)}  checks ${s(t.checks)}  total (RTO) ${s(t.total)}\n`,
  );
  process.stdout.write(
    `  RPO      ${r.verdicts.rpo}${r.objectives.rpoSeconds === undefined ? '' : ` (objective ${s(r.objectives.rpoSeconds)})`}; worst gap in window ${s(r.worstRpo.seconds)}\n`,
  );
  process.stdout.write(
    `  RTO      ${r.verdicts.rto}${r.objectives.rtoSeconds === undefined ? '' : ` (objective ${s(r.objectives.rtoSeconds)})`}\n`,
  );
  for (const c of r.checks) process.stdout.write(`  ${c.ok ? 'ok  ' : 'FAIL'}     ${c.name}: ${c.message}\n`);
  process.stdout.write(`  scratch  ${r.scratch.description}${r.scratch.cleanedUp ? ', removed' : ', NOT removed'}\n`);
}
