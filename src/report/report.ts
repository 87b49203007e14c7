// The RPO/RTO report model, built from storage alone (manifests and drill records), then rendered as
// Markdown, HTML or JSON.
import { listBackups } from '../catalog/catalog.js';
import { manifestKey } from '../catalog/manifest.js';
import type { TargetConfig } from '../config/schema.js';
import { formatDuration } from '../format.js';
import type { Storage } from '../storage/storage.js';
import { backupGaps, type Gap, objectiveSeconds, worstGap } from '../verify/drill-checks.js';
import { type DrillRecord, describeFailure, drillRestored, listDrills } from '../verify/drill-record.js';
import { TOOL } from '../version.js';

export type Verdict = 'pass' | 'fail' | 'none';

export interface BackupPoint {
  readonly id: string;
  readonly snapshotAt: string;
  readonly storedBytes: number;
  readonly rawBytes: number;
  readonly durationSeconds: number;
}

export interface TargetReport {
  readonly target: string;
  readonly driver: string;
  readonly objectives: { readonly rpoSeconds?: number; readonly rtoSeconds?: number };
  readonly measured: {
    /** The longest gap between backups in the window, including the open one up to now. */
    readonly worstRpo: Gap | undefined;
    /** Age of the newest backup's data now. */
    readonly currentRpoSeconds: number | undefined;
    /** Total time of the newest drill that restored (the measured RTO). */
    readonly lastRtoSeconds: number | undefined;
    /** The slowest restore among the window's drills. */
    readonly worstRtoSeconds: number | undefined;
    readonly drills: number;
    readonly drillsFailed: number;
  };
  readonly verdicts: { readonly rpo: Verdict; readonly rto: Verdict; readonly lastDrill: Verdict };
  /** Why each failing verdict failed, in words. */
  readonly findings: readonly string[];
  readonly drills: readonly DrillRecord[];
  readonly backups: readonly BackupPoint[];
  readonly gaps: readonly Gap[];
  /** How the newest backup is protected: encrypted, and locked against deletion until when. */
  readonly protection: { readonly encrypted: boolean | undefined; readonly lockedUntil: string | undefined };
}

export interface Report {
  readonly generatedAt: string;
  readonly since: string;
  readonly tool: { readonly name: string; readonly version: string };
  readonly targets: readonly TargetReport[];
}

export async function buildReport(
  storage: Storage,
  targets: readonly TargetConfig[],
  since: Date,
  now: Date,
): Promise<Report> {
  const reports: TargetReport[] = [];
  for (const target of targets) {
    const manifests = await listBackups(storage, target.name);
    const drills = await listDrills(storage, target.name, since);
    const newest = manifests[0];
    const lockedUntil =
      newest === undefined || storage.lockedUntil === undefined
        ? undefined
        : await storage.lockedUntil(manifestKey(target.name, newest.id));
    reports.push(targetReport(target, manifests, drills, since, now, lockedUntil));
  }
  return { generatedAt: now.toISOString(), since: since.toISOString(), tool: { ...TOOL }, targets: reports };
}

/** The report of one target; pure, for tests. */
export function targetReport(
  target: TargetConfig,
  manifests: readonly Awaited<ReturnType<typeof listBackups>>[number][],
  drills: readonly DrillRecord[],
  since: Date,
  now: Date,
  lockedUntil?: Date,
): TargetReport {
  const objectives = objectiveSeconds(target.drill?.objectives);
  const oldestFirst = [...manifests].sort((a, b) => Date.parse(a.snapshotAt) - Date.parse(b.snapshotAt));
  const gaps = backupGaps(
    oldestFirst.map((m) => m.snapshotAt),
    since,
    now,
  );
  const worst = worstGap(gaps);
  const newest = oldestFirst.at(-1);
  const currentRpoSeconds = newest === undefined ? undefined : (now.getTime() - Date.parse(newest.snapshotAt)) / 1000;
  const restored = drills.filter(drillRestored);
  const lastRtoSeconds = restored.at(-1)?.timings.total;
  const worstRtoSeconds = restored.length === 0 ? undefined : Math.max(...restored.map((d) => d.timings.total));
  const findings: string[] = [];
  let rpo: Verdict = 'none';
  if (objectives.rpoSeconds !== undefined) {
    rpo = worst !== undefined && worst.seconds <= objectives.rpoSeconds ? 'pass' : 'fail';
    if (rpo === 'fail' && worst !== undefined) {
      findings.push(
        `RPO: the longest gap without a backup was ${formatDuration(1000 * worst.seconds)} (${worst.from ?? 'window start'} to ${worst.open ? 'now' : worst.to}), objective ${formatDuration(1000 * objectives.rpoSeconds)}`,
      );
    }
  }
  let rto: Verdict = 'none';
  if (objectives.rtoSeconds !== undefined) {
    if (worstRtoSeconds === undefined) {
      rto = 'fail';
      findings.push('RTO: no drill in the window restored a backup, so the recovery time is unmeasured');
    } else {
      rto = worstRtoSeconds <= objectives.rtoSeconds ? 'pass' : 'fail';
      if (rto === 'fail') {
        findings.push(
          `RTO: the slowest drill took ${formatDuration(1000 * worstRtoSeconds)}, objective ${formatDuration(1000 * objectives.rtoSeconds)}`,
        );
      }
    }
  }
  const last = drills.at(-1);
  const lastDrill: Verdict = last === undefined ? 'none' : last.ok ? 'pass' : 'fail';
  for (const drill of drills.filter((d) => !d.ok)) {
    findings.push(
      `drill ${drill.startedAt} failed at ${drill.failure === undefined ? 'an unrecorded stage' : describeFailure(drill.failure)}`,
    );
  }
  return {
    target: target.name,
    driver: target.driver,
    objectives,
    measured: {
      worstRpo: worst,
      currentRpoSeconds,
      lastRtoSeconds,
      worstRtoSeconds,
      drills: drills.length,
      drillsFailed: drills.filter((d) => !d.ok).length,
    },
    verdicts: { rpo, rto, lastDrill },
    findings,
    drills,
    backups: oldestFirst
      .filter((m) => Date.parse(m.snapshotAt) >= since.getTime())
      .map((m) => ({
        id: m.id,
        snapshotAt: m.snapshotAt,
        storedBytes: m.artifacts.reduce((n, a) => n + a.size, 0),
        rawBytes: m.artifacts.reduce((n, a) => n + a.rawSize, 0),
        durationSeconds: (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000,
      })),
    gaps,
    protection: {
      encrypted: newest === undefined ? undefined : newest.artifacts.some((a) => a.encryption !== undefined),
      lockedUntil: lockedUntil?.toISOString(),
    },
  };
}
