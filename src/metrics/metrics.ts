// Prometheus metrics of the daemon (prom-client). Every name is documented in the README; the alert rules and
// the Grafana dashboard use only these.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { TOOL } from '../version.js';

export type RunResult = 'success' | 'failure';

/** What the catalog says about a target's stored backups. */
export interface CatalogFigures {
  readonly count: number;
  /** Committed backups whose manifest is damaged (unreadable, or not fitting its folder). */
  readonly damaged?: number;
  /** Whether the newest backup is encrypted (undefined: there is none). */
  readonly newestEncrypted?: boolean;
  /** Until when the newest backup is locked against deletion (undefined: not locked). */
  readonly newestLockedUntil?: Date;
  readonly bytes: number;
  /** Data time of the newest backup (its `snapshotAt`). */
  readonly newestSnapshotAt?: Date;
  /** When the newest backup was committed. */
  readonly newestFinishedAt?: Date;
}

/** A target as the metrics see it: schedule intervals and recovery objectives, where configured. */
export interface MetricTarget {
  readonly name: string;
  readonly intervalSeconds?: number;
  readonly drillIntervalSeconds?: number;
  readonly rpoObjectiveSeconds?: number;
  readonly rtoObjectiveSeconds?: number;
  /** Whether new backups are encrypted. */
  readonly encrypted?: boolean;
  /** Names of the stores backups are copied to. */
  readonly copies?: readonly string[];
}

/** What the metrics take from one drill record. */
export interface DrillFigures {
  readonly ok: boolean;
  readonly finishedAt: Date;
  readonly timings: { download: number; verify: number; restore: number; checks: number; total: number };
  /** False when the drill never got as far as a finished restore (no RTO measured). */
  readonly restored: boolean;
}

export class LifeboatMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;
  readonly #newest = new Map<string, number>();
  readonly #lastSuccessAt = new Map<string, number>();
  readonly #lastSuccess: Gauge;
  readonly #lastAttempt: Gauge;
  readonly #lastResult: Gauge;
  readonly #duration: Histogram;
  readonly #lastStored: Gauge;
  readonly #lastRaw: Gauge;
  readonly #downtime: Gauge;
  readonly #runs: Counter;
  readonly #skipped: Counter;
  readonly #failures: Counter;
  readonly #stored: Gauge;
  readonly #damaged: Gauge;
  readonly #copyLastSuccess: Gauge;
  readonly #copyFailures: Counter;
  readonly #encrypted: Gauge;
  readonly #lockedUntil: Gauge;
  readonly #encryptionConfigured: Gauge;
  readonly #storedBytes: Gauge;
  readonly #retentionDeleted: Counter;
  readonly #pruneFailures: Counter;
  readonly #webhookFailures: Counter;
  readonly #interval: Gauge;
  readonly #drillLast: Gauge;
  readonly #drillSuccess: Gauge;
  readonly #drillRto: Gauge;
  readonly #drillStage: Gauge;
  readonly #drillRuns: Counter;
  readonly #rpoObjective: Gauge;
  readonly #rtoObjective: Gauge;
  readonly #drillInterval: Gauge;
  readonly #walLast = new Map<string, number>();
  readonly #walLastGauge: Gauge;
  readonly #walBytes: Counter;
  readonly #walFailures: Counter;
  readonly #walRetained: Gauge;
  readonly #walReceiverUp: Gauge;

  constructor(targets: readonly MetricTarget[], now: () => number = Date.now) {
    this.#now = now;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'lifeboat_build_info',
      help: 'Always 1; labels carry the Lifeboat and Node.js versions.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: TOOL.version, node_version: process.versions.node }, 1);
    const target = ['target'];
    this.#lastSuccess = new Gauge({
      name: 'lifeboat_backup_last_success_timestamp_seconds',
      help: 'When the newest successful backup of the target finished (Unix time).',
      labelNames: target,
      registers,
    });
    this.#lastAttempt = new Gauge({
      name: 'lifeboat_backup_last_attempt_timestamp_seconds',
      help: 'When the last backup run of the target (successful or not) ended (Unix time).',
      labelNames: target,
      registers,
    });
    this.#lastResult = new Gauge({
      name: 'lifeboat_backup_last_success',
      help: 'Result of the last backup run of the target: 1 success, 0 failure.',
      labelNames: target,
      registers,
    });
    this.#duration = new Histogram({
      name: 'lifeboat_backup_duration_seconds',
      help: 'Duration of backup runs, by result.',
      labelNames: ['target', 'result'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200],
      registers,
    });
    this.#lastStored = new Gauge({
      name: 'lifeboat_backup_last_size_bytes',
      help: 'Stored (compressed) size of the last successful backup of the target.',
      labelNames: target,
      registers,
    });
    this.#lastRaw = new Gauge({
      name: 'lifeboat_backup_last_raw_size_bytes',
      help: 'Raw (uncompressed dump) size of the last successful backup of the target.',
      labelNames: target,
      registers,
    });
    this.#downtime = new Gauge({
      name: 'lifeboat_backup_last_downtime_seconds',
      help: 'How long the last successful backup kept the database offline (Neo4j stop-start; 0 for online dumps).',
      labelNames: target,
      registers,
    });
    this.#runs = new Counter({
      name: 'lifeboat_backup_runs_total',
      help: 'Backup runs, by result (a run with retries counts once per attempt).',
      labelNames: ['target', 'result'],
      registers,
    });
    this.#skipped = new Counter({
      name: 'lifeboat_backup_skipped_total',
      help:
        'Scheduled runs skipped: reason "overlap", the previous run of the target was still going; "locked", ' +
        "another process (a CLI, another daemon) held the target's lease.",
      labelNames: ['target', 'reason'],
      registers,
    });
    this.#failures = new Counter({
      name: 'lifeboat_backup_failures_total',
      help: 'Failed backup attempts, by whether another attempt can help (retryable "true") or not ("false": config, permissions, damaged data).',
      labelNames: ['target', 'retryable'],
      registers,
    });
    this.#stored = new Gauge({
      name: 'lifeboat_backups_stored',
      help: 'Committed backups of the target in storage.',
      labelNames: target,
      registers,
    });
    this.#damaged = new Gauge({
      name: 'lifeboat_backups_damaged',
      help: 'Committed backups of the target whose manifest is damaged: never restored, drilled or pruned.',
      labelNames: target,
      registers,
    });
    this.#copyLastSuccess = new Gauge({
      name: 'lifeboat_copy_last_success_timestamp_seconds',
      help: 'When the newest backup of the target was last copied to the store, verified and committed there.',
      labelNames: ['target', 'store'],
      registers,
    });
    this.#copyFailures = new Counter({
      name: 'lifeboat_copy_failures_total',
      help: 'Copies of backups to the store that failed after their retries (the backups themselves are intact).',
      labelNames: ['target', 'store'],
      registers,
    });
    this.#encrypted = new Gauge({
      name: 'lifeboat_backup_encrypted',
      help: 'Whether the newest backup of the target is encrypted (1) or not (0); absent while there is none.',
      labelNames: target,
      registers,
    });
    this.#lockedUntil = new Gauge({
      name: 'lifeboat_backup_locked_until_timestamp_seconds',
      help: 'Until when the newest backup of the target is locked against deletion (S3 Object Lock); absent when not.',
      labelNames: target,
      registers,
    });
    this.#encryptionConfigured = new Gauge({
      name: 'lifeboat_encryption_configured',
      help: 'Whether new backups of the target are encrypted (recipients configured).',
      labelNames: target,
      registers,
    });
    this.#storedBytes = new Gauge({
      name: 'lifeboat_backup_stored_bytes',
      help: 'Bytes stored for the committed backups of the target.',
      labelNames: target,
      registers,
    });
    this.#retentionDeleted = new Counter({
      name: 'lifeboat_retention_deleted_total',
      help: 'Backups deleted by the retention policy.',
      labelNames: target,
      registers,
    });
    this.#pruneFailures = new Counter({
      name: 'lifeboat_prune_failures_total',
      help: 'Prune runs that failed (and deleted nothing further).',
      labelNames: target,
      registers,
    });
    this.#webhookFailures = new Counter({
      name: 'lifeboat_webhook_failures_total',
      help: 'Webhook deliveries that failed after their retries.',
      labelNames: target,
      registers,
    });
    this.#interval = new Gauge({
      name: 'lifeboat_backup_schedule_interval_seconds',
      help: 'Seconds between two scheduled runs of the target: the yardstick for freshness alerts.',
      labelNames: target,
      registers,
    });
    this.#drillLast = new Gauge({
      name: 'lifeboat_drill_last_timestamp_seconds',
      help: 'When the last drill of the target finished (Unix time); read from storage at start-up.',
      labelNames: target,
      registers,
    });
    this.#drillSuccess = new Gauge({
      name: 'lifeboat_drill_last_success',
      help: 'Result of the last drill of the target: 1 passed, 0 failed.',
      labelNames: target,
      registers,
    });
    this.#drillRto = new Gauge({
      name: 'lifeboat_drill_last_rto_seconds',
      help: 'Measured RTO of the last drill that restored: download + verify + restore + checks.',
      labelNames: target,
      registers,
    });
    this.#drillStage = new Gauge({
      name: 'lifeboat_drill_last_stage_seconds',
      help: 'Seconds per stage (download, verify, restore, checks) of the last drill.',
      labelNames: ['target', 'stage'],
      registers,
    });
    this.#drillRuns = new Counter({
      name: 'lifeboat_drill_runs_total',
      help: 'Drills run by this process, by result.',
      labelNames: ['target', 'result'],
      registers,
    });
    this.#rpoObjective = new Gauge({
      name: 'lifeboat_rpo_objective_seconds',
      help: 'The configured recovery point objective of the target.',
      labelNames: target,
      registers,
    });
    this.#rtoObjective = new Gauge({
      name: 'lifeboat_rto_objective_seconds',
      help: 'The configured recovery time objective of the target.',
      labelNames: target,
      registers,
    });
    this.#drillInterval = new Gauge({
      name: 'lifeboat_drill_schedule_interval_seconds',
      help: 'Seconds between two scheduled drills of the target: the yardstick for overdue drills.',
      labelNames: target,
      registers,
    });
    const newest = this.#newest;
    const clock = this.#now;
    new Gauge({
      name: 'lifeboat_rpo_seconds',
      help: 'Current RPO of the target: the age of the data in its newest backup (same source as lifeboat_backup_age_seconds).',
      labelNames: target,
      registers,
      collect() {
        this.reset();
        for (const [name, at] of newest) this.set({ target: name }, Math.max(0, (clock() - at) / 1000));
      },
    });
    new Gauge({
      name: 'lifeboat_backup_age_seconds',
      help: 'Age of the data in the newest backup of the target (now minus its snapshot time); absent without backups.',
      labelNames: target,
      registers,
      collect() {
        this.reset();
        for (const [name, at] of newest) this.set({ target: name }, Math.max(0, (clock() - at) / 1000));
      },
    });
    this.#walLastGauge = new Gauge({
      name: 'lifeboat_wal_last_archived_timestamp_seconds',
      help: 'Physical targets: every commit before this time (Unix time) is archived in the store.',
      labelNames: target,
      registers,
    });
    const walLast = this.#walLast;
    new Gauge({
      name: 'lifeboat_wal_archive_age_seconds',
      help: 'Physical targets: now minus the newest archived WAL time, the data a restore would lose now (the RPO).',
      labelNames: target,
      registers,
      collect() {
        this.reset();
        for (const [name, at] of walLast) this.set({ target: name }, Math.max(0, (clock() - at) / 1000));
      },
    });
    this.#walBytes = new Counter({
      name: 'lifeboat_wal_archived_bytes_total',
      help: 'Physical targets: stored bytes of WAL shipped to the store (whole and partial segments).',
      labelNames: target,
      registers,
    });
    this.#walFailures = new Counter({
      name: 'lifeboat_wal_ship_failures_total',
      help: 'Physical targets: WAL files that failed to ship (each is tried again).',
      labelNames: target,
      registers,
    });
    this.#walRetained = new Gauge({
      name: 'lifeboat_wal_slot_retained_bytes',
      help: 'Physical targets: WAL the replication slot holds back on the server (grows while shipping fails).',
      labelNames: target,
      registers,
    });
    this.#walReceiverUp = new Gauge({
      name: 'lifeboat_wal_receiver_up',
      help: 'Physical targets: 1 while pg_receivewal streams from the server, 0 while it is down.',
      labelNames: target,
      registers,
    });
    for (const { name, intervalSeconds, encrypted, copies } of targets) {
      for (const store of copies ?? []) this.#copyFailures.inc({ target: name, store }, 0);
      const t = { target: name };
      for (const result of ['success', 'failure']) {
        this.#runs.inc({ ...t, result }, 0);
        this.#duration.zero({ ...t, result });
      }
      for (const reason of ['overlap', 'locked']) this.#skipped.inc({ ...t, reason }, 0);
      for (const retryable of ['true', 'false']) this.#failures.inc({ ...t, retryable }, 0);
      this.#retentionDeleted.inc(t, 0);
      this.#pruneFailures.inc(t, 0);
      this.#webhookFailures.inc(t, 0);
      this.#stored.set(t, 0);
      this.#damaged.set(t, 0);
      this.#storedBytes.set(t, 0);
      this.#encryptionConfigured.set(t, encrypted === true ? 1 : 0);
      if (intervalSeconds !== undefined) this.#interval.set(t, intervalSeconds);
    }
    for (const target of targets) {
      const t = { target: target.name };
      if (target.drillIntervalSeconds !== undefined) {
        this.#drillInterval.set(t, target.drillIntervalSeconds);
        for (const result of ['success', 'failure']) this.#drillRuns.inc({ ...t, result }, 0);
      }
      if (target.rpoObjectiveSeconds !== undefined) this.#rpoObjective.set(t, target.rpoObjectiveSeconds);
      if (target.rtoObjectiveSeconds !== undefined) this.#rtoObjective.set(t, target.rtoObjectiveSeconds);
    }
  }

  /** Records the end of one backup attempt. */
  recordRun(
    target: string,
    result: RunResult,
    figures: { durationSeconds: number; storedBytes?: number; rawBytes?: number; downtimeSeconds?: number },
  ): void {
    const t = { target };
    const now = this.#now() / 1000;
    this.#runs.inc({ target, result });
    this.#duration.observe({ target, result }, figures.durationSeconds);
    this.#lastAttempt.set(t, now);
    this.#lastResult.set(t, result === 'success' ? 1 : 0);
    if (result === 'success') {
      this.#lastSuccessAt.set(target, now);
      this.#lastSuccess.set(t, now);
      if (figures.storedBytes !== undefined) this.#lastStored.set(t, figures.storedBytes);
      if (figures.rawBytes !== undefined) this.#lastRaw.set(t, figures.rawBytes);
      if (figures.downtimeSeconds !== undefined) this.#downtime.set(t, figures.downtimeSeconds);
    }
  }

  /** Records a drill: `counted` is false for one read back from storage at start-up. */
  recordDrill(target: string, drill: DrillFigures, counted: boolean): void {
    const t = { target };
    if (counted) this.#drillRuns.inc({ target, result: drill.ok ? 'success' : 'failure' });
    this.#drillLast.set(t, drill.finishedAt.getTime() / 1000);
    this.#drillSuccess.set(t, drill.ok ? 1 : 0);
    if (drill.restored) this.#drillRto.set(t, drill.timings.total);
    for (const stage of ['download', 'verify', 'restore', 'checks'] as const) {
      this.#drillStage.set({ target, stage }, drill.timings[stage]);
    }
  }

  recordSkip(target: string, reason: 'overlap' | 'locked' = 'overlap'): void {
    this.#skipped.inc({ target, reason });
  }

  /** A failed backup attempt, and whether the error says another attempt can help. */
  recordFailure(target: string, retryable: boolean): void {
    this.#failures.inc({ target, retryable: String(retryable) });
  }

  recordRetention(target: string, deleted: number): void {
    this.#retentionDeleted.inc({ target }, deleted);
  }

  recordCopy(target: string, store: string, ok: boolean, at: number): void {
    if (ok) this.#copyLastSuccess.set({ target, store }, at / 1000);
    else this.#copyFailures.inc({ target, store });
  }

  /** A WAL file is safe in the store; every commit before `coveredUntil` (ms) is archived. */
  recordWalShipped(target: string, coveredUntil: number, storedBytes: number): void {
    const last = Math.max(this.#walLast.get(target) ?? 0, coveredUntil);
    this.#walLast.set(target, last);
    this.#walLastGauge.set({ target }, last / 1000);
    this.#walBytes.inc({ target }, storedBytes);
  }

  recordWalFailure(target: string): void {
    this.#walFailures.inc({ target });
  }

  setWalSlotRetained(target: string, bytes: number): void {
    this.#walRetained.set({ target }, bytes);
  }

  setWalReceiverUp(target: string, up: boolean): void {
    this.#walReceiverUp.set({ target }, up ? 1 : 0);
  }

  recordPruneFailure(target: string): void {
    this.#pruneFailures.inc({ target });
  }

  recordWebhookFailure(target: string): void {
    this.#webhookFailures.inc({ target });
  }

  /** Sets the stored-backup figures from the catalog (at start-up and after every run and prune). */
  setCatalog(target: string, figures: CatalogFigures): void {
    const t = { target };
    this.#stored.set(t, figures.count);
    this.#damaged.set(t, figures.damaged ?? 0);
    if (figures.newestLockedUntil === undefined) this.#lockedUntil.remove(t);
    else this.#lockedUntil.set(t, figures.newestLockedUntil.getTime() / 1000);
    if (figures.newestEncrypted === undefined) this.#encrypted.remove(t);
    else this.#encrypted.set(t, figures.newestEncrypted ? 1 : 0);
    this.#storedBytes.set(t, figures.bytes);
    if (figures.newestSnapshotAt === undefined) this.#newest.delete(target);
    else this.#newest.set(target, figures.newestSnapshotAt.getTime());
    if (figures.newestFinishedAt !== undefined) {
      // A later success already recorded by this process wins.
      const at = Math.max(this.#lastSuccessAt.get(target) ?? 0, figures.newestFinishedAt.getTime() / 1000);
      this.#lastSuccessAt.set(target, at);
      this.#lastSuccess.set(t, at);
    }
  }
}
