// The daemon: every scheduled target on its cron schedule, prune after each successful backup, metrics and
// health over HTTP, webhooks, and a graceful stop.
//
// Lifecycle: created -> starting -> running -> stopping (no new runs; running ones finish within the grace
// period, then are aborted cleanly) -> stopped. A failure while starting ends in `failed`.
import { backupIdTime } from '../catalog/backup-id.js';
import { type Catalog, listBackupIds, readCatalog } from '../catalog/catalog.js';
import { type Manifest, manifestKey } from '../catalog/manifest.js';
import { parseDuration } from '../config/duration.js';
import { encryptionFor } from '../config/encryption.js';
import type { LifeboatConfig, PostgresTargetConfig, StorageConfig, TargetConfig } from '../config/schema.js';
import { ConfigError, describeError, isRetryable } from '../errors.js';
import { leaseOptions, TargetBusyError, withLease } from '../lease/lease.js';
import type { Logger } from '../log.js';
import { LifeboatMetrics } from '../metrics/metrics.js';
import { type HealthServer, startHealthServer } from '../metrics/server.js';
import { notifyWebhooks, type RunNotice } from '../notify/webhook.js';
import { type Clock, systemClock } from '../scheduler/clock.js';
import { Schedule } from '../scheduler/schedule.js';
import { type JobDefinition, type RunContext, Scheduler, type StopResult } from '../scheduler/scheduler.js';
import { type EffectiveSettings, effectiveSettings } from '../scheduler/settings.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import { storageForRun } from '../storage/throttled-storage.js';
import { objectiveSeconds } from '../verify/drill-checks.js';
import { type DrillRecord, describeFailure, drillRestored, lastDrill } from '../verify/drill-record.js';
import { runDrill } from '../verify/run-drill.js';
import { WalArchiver } from '../wal/receiver.js';
import { removeStaleWorkDirs } from '../work-dir.js';
import { BackupFailedError, runBackup } from './run-backup.js';
import { copyBackup } from './run-copy.js';
import { runPrune } from './run-prune.js';

function drillFigures(record: DrillRecord) {
  return {
    ok: record.ok,
    finishedAt: new Date(record.finishedAt),
    timings: record.timings,
    restored: drillRestored(record),
  };
}

export type DaemonState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface DaemonOptions {
  readonly config: LifeboatConfig;
  readonly storage: Storage;
  readonly logger: Logger;
  readonly clock?: Clock;
}

export interface DaemonStopResult extends StopResult {
  /** True when every run ended by itself or was aborted with its partial objects removed. */
  readonly clean: boolean;
}

interface Scheduled {
  readonly target: TargetConfig;
  readonly settings: EffectiveSettings;
  /** The drill schedule, when the target has one. */
  readonly drill: Schedule | undefined;
}

const DRILL_JOB = 'drill:';

/** A physical PostgreSQL target whose WAL the daemon streams itself (not through archive_command). */
function archivesWal(target: TargetConfig): target is PostgresTargetConfig {
  return target.driver === 'postgres' && target.method === 'physical' && target.wal.receive;
}

export class Daemon {
  readonly #options: DaemonOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #targets = new Map<string, Scheduled>();
  /** The copy stores, made when first used. */
  readonly #stores = new Map<string, Promise<Storage>>();
  readonly metrics: LifeboatMetrics;
  #scheduler: Scheduler | undefined;
  /** Continuous WAL archiving of the physical PostgreSQL targets. */
  readonly #archivers: WalArchiver[] = [];
  #server: HealthServer | undefined;
  #state: DaemonState = 'created';
  #uncleanAborts = 0;
  #readiness: { at: number; ready: boolean; detail: string } | undefined;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger.child({ component: 'daemon' });
    options.config.targets.forEach((target) => {
      const settings = effectiveSettings(options.config, target);
      const drill =
        target.drill?.schedule === undefined ? undefined : new Schedule(target.drill.schedule, settings.timezone);
      if (settings.schedule !== undefined || drill !== undefined)
        this.#targets.set(target.name, { target, settings, drill });
    });
    const archived = options.config.targets.filter(archivesWal);
    if (this.#targets.size === 0 && archived.length === 0) {
      throw new ConfigError(
        ['targets: no target has a schedule, so the daemon would do nothing'],
        'set `schedule:` on a target (e.g. "0 3 * * *") or under `defaults:`, or `drill.schedule`',
      );
    }
    const now = new Date(this.#clock.now());
    this.metrics = new LifeboatMetrics(
      [...this.#targets.values()].map(({ target, settings, drill }) => ({
        name: target.name,
        intervalSeconds: settings.schedule?.intervalSeconds(now),
        drillIntervalSeconds: drill?.intervalSeconds(now),
        rpoObjectiveSeconds: objectiveSeconds(target.drill?.objectives).rpoSeconds,
        rtoObjectiveSeconds: objectiveSeconds(target.drill?.objectives).rtoSeconds,
        encrypted: (encryptionFor(options.config, target)?.recipients ?? []).length > 0,
        copies: settings.copies.map((copy) => copy.store),
      })),
      () => this.#clock.now(),
    );
  }

  get state(): DaemonState {
    return this.#state;
  }

  /** The bound address of /metrics, /healthz and /readyz, once started (undefined when metrics are off). */
  get url(): string | undefined {
    return this.#server?.url;
  }

  async start(): Promise<void> {
    if (this.#state !== 'created') throw new Error(`daemon: start: already ${this.#state}`);
    this.#state = 'starting';
    const { config } = this.#options;
    try {
      // Object Lock promised in the config but not enabled on the bucket: refuse to start, rather than
      // write backups that anyone with the key can delete.
      if (config.storage.type === 's3' && config.storage.objectLock !== undefined) await this.#options.storage.check();
      if (config.metrics.enabled) {
        this.#server = await startHealthServer({
          listen: config.metrics.listen,
          registry: this.metrics.registry,
          alive: () => this.#state === 'starting' || this.#state === 'running',
          readiness: () => this.#ready(),
          auth: config.metrics.auth,
          tls: config.metrics.tls,
        });
      }
      // Copies of databases that killed runs left in the temp folder: nobody will read them again.
      for (const path of await removeStaleWorkDirs()) {
        this.#log.info({ event: 'cleanup.stale-work-dir', path }, 'removed what a killed run left behind');
      }
      for (const target of config.targets.filter(archivesWal)) {
        const archiver = new WalArchiver({
          target,
          storage: storageForRun(this.#options.storage, config, target),
          logger: this.#options.logger,
          recipients: encryptionFor(config, target)?.recipients,
          metrics: this.metrics,
        });
        await archiver.start();
        this.#archivers.push(archiver);
      }
      const catchUp: string[] = [];
      for (const { target, settings, drill } of this.#targets.values()) {
        await this.#refreshCatalog(target.name);
        if (drill !== undefined) await this.#loadLastDrill(target.name);
        if (settings.schedule === undefined) continue;
        if (settings.catchUp && (await this.#missedRun(target.name, settings))) catchUp.push(target.name);
      }
      const jobs: JobDefinition[] = [];
      for (const { target, settings, drill } of this.#targets.values()) {
        const common = { target: target.name, jitterMs: settings.jitterMs, timeoutMs: settings.timeoutMs };
        if (settings.schedule !== undefined) {
          jobs.push({
            ...common,
            name: target.name,
            kind: 'backup',
            schedule: settings.schedule,
            retries: settings.retries,
            retryDelayMs: settings.retryDelayMs,
          });
        }
        // A failed drill is a finding, not a transient error: it is not retried.
        if (drill !== undefined) {
          jobs.push({
            ...common,
            name: `${DRILL_JOB}${target.name}`,
            kind: 'drill',
            schedule: drill,
            retries: 0,
            retryDelayMs: 0,
          });
        }
      }
      this.#scheduler = new Scheduler({
        jobs,
        run: (name, context) =>
          name.startsWith(DRILL_JOB) ? this.#drill(name.slice(DRILL_JOB.length), context) : this.#run(name, context),
        concurrency: config.daemon.concurrency,
        logger: this.#log,
        clock: this.#clock,
        onSkip: (name) => {
          if (!name.startsWith(DRILL_JOB)) this.metrics.recordSkip(name);
        },
      });
      this.#scheduler.start(catchUp);
      this.#state = 'running';
      this.#log.info(
        {
          event: 'daemon.start',
          metrics: this.#server === undefined ? 'off' : `${this.#server.url}/metrics`,
          storage: this.#options.storage.location,
          concurrency: config.daemon.concurrency,
          targets: [...this.#targets.values()].map(({ target, settings, drill }) => ({
            target: target.name,
            schedule: settings.schedule?.pattern,
            timezone: settings.timezone,
            next: this.#scheduler?.nextDue(target.name)?.toISOString(),
            catchUp: catchUp.includes(target.name),
            ...(drill === undefined
              ? {}
              : {
                  drill: drill.pattern,
                  nextDrill: this.#scheduler?.nextDue(`${DRILL_JOB}${target.name}`)?.toISOString(),
                }),
          })),
        },
        'daemon started',
      );
    } catch (error) {
      this.#state = 'failed';
      await this.#server?.close();
      throw error;
    }
  }

  /** Stops scheduling, gives running work the grace period, then aborts it cleanly. */
  async stop(reason: string): Promise<DaemonStopResult> {
    if (this.#state !== 'running') {
      await Promise.all(this.#archivers.map((archiver) => archiver.stop()));
      await this.#server?.close();
      this.#state = this.#state === 'failed' ? 'failed' : 'stopped';
      return { finished: 0, aborted: 0, dropped: 0, clean: true };
    }
    this.#state = 'stopping';
    const graceMs = parseDuration(this.#options.config.daemon.shutdownGracePeriod);
    this.#log.info(
      { event: 'daemon.stopping', reason, running: this.#scheduler?.running ?? [], graceMs },
      'daemon stopping',
    );
    const result = (await this.#scheduler?.stop(graceMs)) ?? { finished: 0, aborted: 0, dropped: 0 };
    await Promise.all(this.#archivers.map((archiver) => archiver.stop()));
    await this.#server?.close();
    this.#state = 'stopped';
    const clean = this.#uncleanAborts === 0;
    this.#log.info({ event: 'daemon.stopped', ...result, clean }, 'daemon stopped');
    return { ...result, clean };
  }

  async #run(name: string, context: RunContext): Promise<void> {
    const scheduled = this.#targets.get(name);
    if (scheduled === undefined) return;
    const { storage, config } = this.#options;
    const logger = this.#options.logger.child({ reason: context.reason, attempt: context.attempt });
    try {
      // Another process (a manual backup, a second daemon on the store) holds the target: this due time is
      // skipped, as when the previous run is still going.
      await withLease(
        storage,
        name,
        { ...leaseOptions(config, 'lifeboat daemon', this.#log), signal: context.signal },
        (signal) => this.#backupAndPrune(scheduled, { ...context, signal }, logger),
      );
    } catch (error) {
      if (!(error instanceof TargetBusyError)) throw error;
      this.#log.warn(
        { event: 'run.skipped', target: name, kind: 'backup', reason: 'locked', error: error.message },
        'run skipped: another process holds the target',
      );
      this.metrics.recordSkip(name, 'locked');
    }
  }

  async #backupAndPrune(scheduled: Scheduled, context: RunContext, logger: Logger): Promise<void> {
    const { target, settings } = scheduled;
    const { name } = target;
    const { storage, config } = this.#options;
    const started = this.#clock.now();
    try {
      const manifest = await runBackup({
        storage: storageForRun(storage, config, target),
        target,
        logger,
        compression: settings.compression,
        priority: settings.priority,
        verifyUpload: config.storage.verifyUpload,
        encryption: encryptionFor(config, target),
        signal: context.signal,
        now: () => new Date(this.#clock.now()),
      });
      const artifacts = manifest.artifacts;
      const storedBytes = artifacts.reduce((sum, a) => sum + a.size, 0);
      const durationSeconds = (this.#clock.now() - started) / 1000;
      this.metrics.recordRun(name, 'success', {
        durationSeconds,
        storedBytes,
        rawBytes: artifacts.reduce((sum, a) => sum + a.rawSize, 0),
        downtimeSeconds:
          typeof manifest.source.downtimeSeconds === 'number' ? manifest.source.downtimeSeconds : undefined,
      });
      await this.#copy(name, settings, manifest);
      // Prune's listing is the catalog after it; only a failed prune makes the metrics list again.
      await this.#refreshCatalog(name, await this.#prune(name, settings));
      await this.#notify(settings, {
        id: manifest.id,
        target: name,
        result: 'success',
        error: undefined,
        durationSeconds,
        storedBytes,
      });
    } catch (error) {
      if (error instanceof BackupFailedError && error.interrupted && !error.cleanedUp) this.#uncleanAborts += 1;
      const durationSeconds = (this.#clock.now() - started) / 1000;
      this.metrics.recordRun(name, 'failure', { durationSeconds });
      this.metrics.recordFailure(name, isRetryable(error));
      await this.#notify(settings, {
        id: error instanceof BackupFailedError ? error.id : undefined,
        target: name,
        result: 'failure',
        error: describeError(error),
        durationSeconds,
        storedBytes: undefined,
      });
      throw error;
    }
  }

  async #drill(name: string, context: RunContext): Promise<void> {
    const scheduled = this.#targets.get(name);
    if (scheduled === undefined) return;
    const record = await runDrill({
      storage: storageForRun(this.#options.storage, this.#options.config, scheduled.target),
      target: scheduled.target,
      logger: this.#options.logger.child({ reason: context.reason }),
      signal: context.signal,
      now: () => new Date(this.#clock.now()),
      encryption: encryptionFor(this.#options.config, scheduled.target),
    });
    // A drill changes no backup: the catalog metrics stay as they are.
    this.metrics.recordDrill(name, drillFigures(record), true);
    await this.#notify(scheduled.settings, {
      event: 'drill',
      id: record.backup?.id,
      target: name,
      result: record.ok ? 'success' : 'failure',
      error: record.failure === undefined ? undefined : describeFailure(record.failure),
      durationSeconds: record.timings.total,
      storedBytes: record.backup?.storedBytes,
    });
  }

  /** Sets the drill metrics from the newest stored drill record, so they survive restarts. */
  async #loadLastDrill(name: string): Promise<void> {
    try {
      const record = await lastDrill(this.#options.storage, name);
      if (record !== undefined) this.metrics.recordDrill(name, drillFigures(record), false);
    } catch (error) {
      this.#log.warn(
        { event: 'drills.failed', target: name, error: describeError(error) },
        'cannot read drill records',
      );
    }
  }

  /**
   * Copies a committed backup to each of the target's copy stores, then applies each copy's retention there.
   * A failed copy is logged and counted; it never fails the run, whose backup is committed already.
   */
  async #copy(name: string, settings: EffectiveSettings, manifest: Manifest): Promise<void> {
    for (const { store, retention } of settings.copies) {
      const scheduled = this.#targets.get(name);
      const copy = storageForRun(await this.#store(store), this.#options.config, scheduled?.target);
      try {
        await copyBackup({
          source: storageForRun(this.#options.storage, this.#options.config, scheduled?.target),
          copy,
          store,
          manifest,
          logger: this.#options.logger,
          lease: leaseOptions(this.#options.config, 'lifeboat daemon', this.#log),
        });
        this.metrics.recordCopy(name, store, true, this.#clock.now());
      } catch (error) {
        this.metrics.recordCopy(name, store, false, this.#clock.now());
        this.#log.error({ event: 'copy.failed', target: name, store, error: describeError(error) }, 'copy failed');
        continue;
      }
      // The copy store's retention holds that store's lease, as any prune does.
      await withLease(copy, name, leaseOptions(this.#options.config, 'lifeboat daemon', this.#log), () =>
        runPrune({
          storage: copy,
          target: name,
          policy: retention,
          now: new Date(this.#clock.now()),
          incompleteGraceMs: parseDuration(this.#options.config.daemon.incompleteGracePeriod),
          dryRun: false,
          logger: this.#options.logger.child({ store }),
        }),
      ).catch((error: unknown) => {
        this.metrics.recordPruneFailure(name);
        this.#log.error({ event: 'prune.failed', target: name, store, error: describeError(error) }, 'prune failed');
      });
    }
  }

  #store(name: string): Promise<Storage> {
    let store = this.#stores.get(name);
    if (store === undefined) {
      store = createStorage(this.#options.config.stores[name] as StorageConfig);
      this.#stores.set(name, store);
    }
    return store;
  }

  /** Applies retention; resolves to the backups left, or undefined when prune failed. */
  async #prune(name: string, settings: EffectiveSettings): Promise<Catalog | undefined> {
    try {
      const { report, remaining } = await runPrune({
        storage: this.#options.storage,
        target: name,
        policy: settings.retention,
        now: new Date(this.#clock.now()),
        incompleteGraceMs: parseDuration(this.#options.config.daemon.incompleteGracePeriod),
        dryRun: false,
        logger: this.#options.logger,
      });
      if (report.delete.length > 0) this.metrics.recordRetention(name, report.delete.length);
      return remaining;
    } catch (error) {
      this.metrics.recordPruneFailure(name);
      this.#log.error({ event: 'prune.failed', target: name, error: describeError(error) }, 'prune failed');
      return undefined;
    }
  }

  async #notify(
    settings: EffectiveSettings,
    notice: Omit<RunNotice, 'event' | 'finishedAt'> & { event?: RunNotice['event'] },
  ): Promise<void> {
    if (settings.webhooks.length === 0) return;
    await notifyWebhooks(
      settings.webhooks,
      { event: 'backup', finishedAt: new Date(this.#clock.now()).toISOString(), ...notice },
      { logger: this.#log, onFailure: () => this.metrics.recordWebhookFailure(notice.target) },
    );
  }

  /** Sets the stored-backup metrics from `known` (newest first) or the catalog; a listing failure is logged. */
  async #refreshCatalog(name: string, known?: Catalog): Promise<void> {
    try {
      const { backups, damaged } = known ?? (await readCatalog(this.#options.storage, name));
      const newest = backups[0];
      for (const item of damaged) {
        this.#log.warn(
          { event: 'catalog.damaged', target: name, id: item.id, problem: item.problem },
          'damaged backup',
        );
      }
      this.metrics.setCatalog(name, {
        count: backups.length,
        damaged: damaged.length,
        newestEncrypted: newest === undefined ? undefined : newest.artifacts.some((a) => a.encryption !== undefined),
        newestLockedUntil:
          newest === undefined || this.#options.storage.lockedUntil === undefined
            ? undefined
            : await this.#options.storage.lockedUntil(manifestKey(name, newest.id)),
        bytes: backups.reduce((sum, m) => sum + m.artifacts.reduce((s, a) => s + a.size, 0), 0),
        newestSnapshotAt: newest === undefined ? undefined : new Date(newest.snapshotAt),
        newestFinishedAt: newest === undefined ? undefined : new Date(newest.finishedAt),
      });
    } catch (error) {
      this.#log.warn({ event: 'catalog.failed', target: name, error: describeError(error) }, 'cannot list backups');
    }
  }

  /** True when a due time passed since the newest backup started (or there is none, or listing fails). */
  async #missedRun(name: string, settings: EffectiveSettings): Promise<boolean> {
    try {
      const newest = (await listBackupIds(this.#options.storage, name)).at(-1);
      const startedAt = newest === undefined ? undefined : backupIdTime(newest);
      return settings.schedule?.missedSince(startedAt, new Date(this.#clock.now())) ?? false;
    } catch {
      return true;
    }
  }

  async #ready(): Promise<{ ready: boolean; detail: string }> {
    if (this.#state !== 'running') return { ready: false, detail: `daemon ${this.#state}` };
    const now = this.#clock.now();
    if (this.#readiness !== undefined && now - this.#readiness.at < 10_000) return this.#readiness;
    let result: { ready: boolean; detail: string };
    try {
      await Promise.race([
        this.#options.storage.check(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref()),
      ]);
      result = { ready: true, detail: `ready: config loaded, storage ${this.#options.storage.location} answers` };
    } catch (error) {
      result = { ready: false, detail: `not ready: storage: ${describeError(error)}` };
    }
    this.#readiness = { at: now, ...result };
    return result;
  }
}
