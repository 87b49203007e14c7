// `lifeboat verify ID|TARGET [--all]`: re-reads stored bytes and checks them against the manifest.

import { isBackupId } from '../catalog/backup-id.js';
import { type DamagedBackup, findBackup, readCatalog } from '../catalog/catalog.js';
import type { Manifest } from '../catalog/manifest.js';
import { encryptionFor } from '../config/encryption.js';
import { LifeboatError } from '../errors.js';
import { storageForRun } from '../storage/throttled-storage.js';
import { verifyAndRecord } from '../verify/run-verify.js';
import { verifyWal } from '../wal/verify-wal.js';
import { type CommandContext, findTarget } from './context.js';

export async function verifyCommand(
  ctx: CommandContext,
  subject: string,
  options: { all?: boolean; json?: boolean },
): Promise<number> {
  let backups: Manifest[];
  let damaged: DamagedBackup[] = [];
  if (isBackupId(subject)) {
    backups = [
      await findBackup(
        ctx.storage,
        ctx.config.targets.map((t) => t.name),
        subject,
      ),
    ];
  } else {
    const catalog = await readCatalog(ctx.storage, findTarget(ctx.config, subject).name);
    const all = catalog.backups;
    // A damaged manifest fails verification of its target, whichever backups were asked for.
    damaged = catalog.damaged;
    if (all.length === 0 && damaged.length === 0) {
      throw new LifeboatError('NOT_FOUND', `verify ${subject}: no backups of this target`);
    }
    backups = options.all ? all : all.slice(0, 1);
  }
  for (const item of damaged) {
    if (!options.json) process.stdout.write(`FAILED  ${item.target}/${item.id}\n        ${item.problem}\n`);
  }
  const results = [];
  for (const manifest of backups) {
    const target = findTarget(ctx.config, manifest.target);
    const identities = encryptionFor(ctx.config, target)?.identities;
    const result = await verifyAndRecord(storageForRun(ctx.storage, ctx.config, target), target, manifest, identities);
    results.push(result);
    if (!options.json) {
      process.stdout.write(`${result.ok ? 'ok    ' : 'FAILED'}  ${manifest.target}/${manifest.id}\n`);
      for (const artifact of result.artifacts) if (artifact.note) process.stdout.write(`        ${artifact.note}\n`);
      for (const artifact of result.artifacts)
        for (const problem of artifact.problems) process.stdout.write(`        ${problem}\n`);
    }
  }
  // A physical target's WAL: every file, and the chain's continuity.
  let walOk = true;
  const wal = [];
  const subjectTarget = isBackupId(subject) ? undefined : findTarget(ctx.config, subject);
  if (subjectTarget?.driver === 'postgres' && subjectTarget.method === 'physical') {
    const identities = encryptionFor(ctx.config, subjectTarget)?.identities;
    const result = await verifyWal(ctx.storage, subjectTarget.name, identities, ctx.signal);
    wal.push(result);
    walOk = result.ok;
    if (!options.json) {
      process.stdout.write(
        `${result.ok ? 'ok    ' : 'FAILED'}  ${subjectTarget.name} WAL: ${result.checked} files checked\n`,
      );
      for (const problem of result.problems) process.stdout.write(`        ${problem}\n`);
      for (const w of result.windows) {
        process.stdout.write(
          `        recoverable: timeline ${w.timeline} from ${new Date(w.from).toISOString()} to ${new Date(w.to).toISOString()}\n`,
        );
      }
    }
  }
  if (options.json) {
    const failed = damaged.map((d) => ({ target: d.target, id: d.id, ok: false, damaged: d.problem, artifacts: [] }));
    const all = [...failed, ...results];
    process.stdout.write(`${JSON.stringify(wal.length === 0 ? all : { backups: all, wal }, null, 2)}\n`);
  }
  return damaged.length === 0 && results.every((r) => r.ok) && walOk ? 0 : 1;
}
