// `lifeboat prune [TARGET] [--dry-run] [--json] [--now ISO8601]`: apply retention, explain every decision.
import { now as wallNow } from '../clock.js';
import { parseDuration } from '../config/duration.js';
import type { TargetConfig } from '../config/schema.js';
import { type PruneReport, runPrune } from '../core/run-prune.js';
import { LifeboatError } from '../errors.js';
import { leaseOptions, withLease } from '../lease/lease.js';
import { effectiveSettings } from '../scheduler/settings.js';
import { removeStaleWorkDirs } from '../work-dir.js';
import { type CommandContext, parseTimeFlag, selectTargets } from './context.js';

export interface PruneFlags {
  dryRun?: boolean;
  json?: boolean;
  now?: string;
}

export async function pruneCommand(ctx: CommandContext, name: string | undefined, flags: PruneFlags): Promise<number> {
  const now = parseTimeFlag('--now', flags.now) ?? wallNow();
  const targets = selectTargets(ctx.config, name === undefined ? [] : [name]);
  const reports: PruneReport[] = [];
  let failed = 0;
  for (const target of targets) {
    try {
      const prune = () =>
        runPrune({
          storage: ctx.storage,
          target: target.name,
          policy: policyFor(ctx, target),
          now,
          incompleteGraceMs: parseDuration(ctx.config.daemon.incompleteGracePeriod),
          dryRun: flags.dryRun === true,
          logger: ctx.logger,
        });
      // A real prune holds the target's lease, so it never removes the objects of a backup being written; a
      // dry run deletes nothing and needs none.
      const lease = { ...leaseOptions(ctx.config, 'lifeboat prune', ctx.logger), signal: ctx.signal };
      const { report } = flags.dryRun ? await prune() : await withLease(ctx.storage, target.name, lease, prune);
      reports.push(report);
      if (!flags.json) printReport(report);
    } catch (error) {
      failed += 1;
      const hint = error instanceof LifeboatError && error.hint !== undefined ? `\nTry: ${error.hint}` : '';
      process.stderr.write(`Error: ${(error as Error).message}${hint}\n`);
    }
  }
  if (!flags.dryRun) {
    // What killed runs of this host left in the temp folder (whole database copies) goes too.
    for (const path of await removeStaleWorkDirs()) {
      ctx.logger.info({ event: 'prune.stale-work-dir', path }, 'removed what a killed run left behind');
    }
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  return failed === 0 ? 0 : 1;
}

/** The target's retention, or, with --store, that copy's own retention. */
function policyFor(ctx: CommandContext, target: TargetConfig) {
  const settings = effectiveSettings(ctx.config, target);
  if (ctx.storeName === undefined) return settings.retention;
  return settings.copies.find((copy) => copy.store === ctx.storeName)?.retention ?? settings.retention;
}

function printReport(report: PruneReport): void {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  process.stdout.write(
    `${report.target}: keep ${report.keep.length}, ${verb} ${report.delete.length}` +
      (report.incomplete.length > 0 ? `, incomplete ${report.incomplete.length}` : '') +
      (report.dryRun ? ' (dry run: nothing changed)' : '') +
      '\n',
  );
  for (const k of report.keep) process.stdout.write(`  keep    ${k.id}  ${k.reasons.join('; ')}\n`);
  for (const d of report.delete) process.stdout.write(`  delete  ${d.id}\n`);
  for (const i of report.incomplete) {
    process.stdout.write(`  remove  ${i.id}  incomplete: no manifest, ${i.objects} object(s)\n`);
  }
  if (report.staleUploads > 0) process.stdout.write(`  removed ${report.staleUploads} unfinished upload(s)\n`);
  if (report.wal !== undefined) {
    const from =
      report.wal.keptFrom === undefined
        ? ''
        : ` (kept from ${report.wal.keptFrom}, the oldest kept base backup's first)`;
    process.stdout.write(
      `  WAL     ${report.dryRun ? 'would remove' : 'removed'} ${report.wal.remove.length} file(s)${from}\n`,
    );
  }
}
