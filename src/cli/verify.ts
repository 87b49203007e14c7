// `lifeboat verify ID|TARGET [--all]`: re-reads stored bytes and checks them against the manifest.

import { isBackupId } from '../catalog/backup-id.js';
import { findBackup, listBackups } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { LifeboatError } from '../errors.js';
import { verifyAndRecord } from '../verify/run-verify.js';
import { type CommandContext, findTarget } from './context.js';

export async function verifyCommand(
  ctx: CommandContext,
  subject: string,
  options: { all?: boolean; json?: boolean },
): Promise<number> {
  let backups: Manifest[];
  if (isBackupId(subject)) {
    backups = [
      await findBackup(
        ctx.storage,
        ctx.config.targets.map((t) => t.name),
        subject,
      ),
    ];
  } else {
    const all = await listBackups(ctx.storage, findTarget(ctx.config, subject).name);
    if (all.length === 0) throw new LifeboatError('NOT_FOUND', `verify ${subject}: no backups of this target`);
    backups = options.all ? all : all.slice(0, 1);
  }
  const results = [];
  for (const manifest of backups) {
    const result = await verifyAndRecord(ctx.storage, findTarget(ctx.config, manifest.target), manifest);
    results.push(result);
    if (!options.json) {
      process.stdout.write(`${result.ok ? 'ok    ' : 'FAILED'}  ${manifest.target}/${manifest.id}\n`);
      for (const artifact of result.artifacts)
        for (const problem of artifact.problems) process.stdout.write(`        ${problem}\n`);
    }
  }
  if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}
