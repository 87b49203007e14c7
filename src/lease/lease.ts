// The target lease: at most one process works on a target's backups in a store at a time (a backup, a prune,
// a restore into the live database, a daemon's run), across processes, containers and hosts. It lives in the
// store itself, at `<target>/lease.json`, written only with the store's conditional writes.
//
// Lifecycle of one lease: absent or free -> held (created, or taken over when the last holder released it or
// let it expire) -> renewed every ttl/3 by its holder -> released: deleted while still fresh (then only its
// holder may touch it), otherwise marked free with a compare-and-swap. A holder that cannot renew before
// expiry, or finds the record changed under it, has lost the lease and aborts its work. A release the store
// did not take leaves the record to expire, but its own process takes it back at once (`abandoned`).

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { now } from '../clock.js';
import { parseDuration } from '../config/duration.js';
import type { LifeboatConfig } from '../config/schema.js';
import { describeError, LifeboatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';

export interface LeaseHolder {
  /** Unique per acquisition: two runs of one process are two holders. */
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  /** What holds it, e.g. "lifeboat backup" or "lifeboat daemon". */
  readonly command: string;
}

/** The stored record. */
export interface LeaseRecord {
  readonly schemaVersion: 1;
  readonly target: string;
  readonly holder: LeaseHolder;
  readonly acquiredAt: string;
  readonly renewedAt: string;
  readonly expiresAt: string;
  /** Set when the holder let go, or when `lifeboat unlock` broke an expired lease. */
  readonly releasedAt?: string;
  readonly releasedBy?: string;
}

export const LEASE_NAME = 'lease.json';

export function leaseKey(target: string): string {
  return `${target}/${LEASE_NAME}`;
}

export interface LeaseOptions {
  /** How long a lease lasts without renewal. */
  readonly ttlMs: number;
  readonly command: string;
  readonly logger?: Logger;
  readonly now?: () => Date;
}

/** The lease settings of the config, for one command. */
export function leaseOptions(config: Pick<LifeboatConfig, 'lease'>, command: string, logger?: Logger): LeaseOptions {
  return { ttlMs: parseDuration(config.lease.ttl), command, logger };
}

/** Another process holds the target's lease: nothing was done. */
export class TargetBusyError extends LifeboatError {
  override readonly name = 'TargetBusyError';
  readonly holder: LeaseRecord;

  constructor(record: LeaseRecord, now: Date) {
    super('TARGET_BUSY', `lease: target ${record.target} is busy: ${describeHolder(record, now)}`, {
      hint:
        `wait for it to end; if that process is gone, its lease expires at ${record.expiresAt} ` +
        `and the next run takes over (or run \`lifeboat unlock ${record.target}\` after that)`,
    });
    this.holder = record;
  }
}

/** "lifeboat backup (pid 42 on host-a) holds it since …, renewed 3 s ago" */
export function describeHolder(record: LeaseRecord, now: Date): string {
  const { holder } = record;
  const ago = Math.max(0, Math.round((now.getTime() - Date.parse(record.renewedAt)) / 1000));
  return `${holder.command} (pid ${holder.pid} on ${holder.host}) holds it since ${record.acquiredAt}, renewed ${ago} s ago`;
}

/**
 * Holders of this process that let go of their lease but could not tell the store (it did not answer the
 * release). Their records still read as held until they expire; nobody but this process works under them,
 * so this process's next acquisition of the target takes such a record over at once instead of waiting.
 */
const abandoned = new Set<string>();

/** A held lease. `signal` aborts when it is lost; `release()` lets go (safe to call twice). */
export class Lease {
  readonly target: string;
  readonly #storage: Storage;
  readonly #options: LeaseOptions;
  readonly #controller = new AbortController();
  readonly #now: () => Date;
  #record: LeaseRecord;
  #version: string;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();
  #released = false;

  constructor(storage: Storage, record: LeaseRecord, version: string, options: LeaseOptions) {
    this.target = record.target;
    this.#storage = storage;
    this.#record = record;
    this.#version = version;
    this.#options = options;
    this.#now = options.now ?? now;
    this.#timer = setInterval(
      () => {
        this.#renewing = this.#renewing.then(() => this.#renew());
      },
      Math.max(50, Math.floor(options.ttlMs / 3)),
    );
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get record(): LeaseRecord {
    return this.#record;
  }

  async #renew(): Promise<void> {
    if (this.#released || this.signal.aborted) return;
    const now = this.#now();
    const next = { ...this.#record, renewedAt: now.toISOString(), expiresAt: expiry(now, this.#options.ttlMs) };
    try {
      const version = await this.#storage.replaceIfVersion(leaseKey(this.target), encode(next), this.#version);
      if (version === undefined) {
        this.#lose('the lease record was changed by another process (it expired, or was unlocked)');
        return;
      }
      this.#record = next;
      this.#version = version;
    } catch (error) {
      // The store did not answer: the work goes on while the lease still stands, and stops before it expires.
      const left = Date.parse(this.#record.expiresAt) - this.#now().getTime();
      this.#options.logger?.warn(
        { event: 'lease.renew-failed', target: this.target, error: describeError(error), expiresInMs: left },
        'cannot renew the lease',
      );
      if (left < this.#options.ttlMs / 3) this.#lose(`it could not be renewed: ${describeError(error)}`);
    }
  }

  #lose(why: string): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#options.logger?.error({ event: 'lease.lost', target: this.target, why }, 'lease lost: stopping the work');
    this.#controller.abort(
      new LifeboatError('LEASE_LOST', `lease: lost the lease of target ${this.target}: ${why}`, {
        hint: 'the work was stopped so that two processes never write one target at once; it runs again next time',
      }),
    );
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#renewing;
    if (this.signal.aborted) return;
    const key = leaseKey(this.target);
    const now = this.#now();
    try {
      // While the lease is fresh nobody else may take it (nor unlock it): it can simply go, so a store holds
      // nothing of a run that ended. Where deleting is not allowed (a write-only key), it is marked free.
      if (Date.parse(this.#record.expiresAt) - now.getTime() > this.#options.ttlMs / 3) {
        const current = await this.#storage.readVersioned(key);
        if (current?.version !== this.#version) return;
        const deleted = await this.#storage.delete([key]).then(
          () => true,
          () => false,
        );
        if (deleted) return;
      }
      const free: LeaseRecord = {
        ...this.#record,
        releasedAt: now.toISOString(),
        releasedBy: this.#record.holder.command,
      };
      await this.#storage.replaceIfVersion(key, encode(free), this.#version);
    } catch (error) {
      abandoned.add(this.#record.holder.id);
      this.#options.logger?.warn(
        { event: 'lease.release-failed', target: this.target, error: describeError(error) },
        `cannot release the lease; it expires at ${this.#record.expiresAt} (this process takes it back at once)`,
      );
    }
  }
}

/** The holder this process writes. */
function holderFor(command: string): LeaseHolder {
  return { id: randomUUID(), host: hostname(), pid: process.pid, command };
}

function expiry(now: Date, ttlMs: number): string {
  return new Date(now.getTime() + ttlMs).toISOString();
}

function encode(record: LeaseRecord): Buffer {
  return Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
}

/** The stored record, or undefined when it is not a lease record (a damaged file counts as free). */
export function parseLease(body: Buffer): LeaseRecord | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<LeaseRecord>;
    const ok =
      value.schemaVersion === 1 &&
      typeof value.target === 'string' &&
      typeof value.holder?.command === 'string' &&
      typeof value.acquiredAt === 'string' &&
      typeof value.renewedAt === 'string' &&
      !Number.isNaN(Date.parse(value.expiresAt ?? ''));
    return ok ? (value as LeaseRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a record holds the target now: not released and not expired. */
export function isHeld(record: LeaseRecord | undefined, now: Date): boolean {
  return record !== undefined && record.releasedAt === undefined && Date.parse(record.expiresAt) > now.getTime();
}

const ACQUIRE_ATTEMPTS = 5;

/** Takes the target's lease, or rejects with TargetBusyError naming the holder. */
export async function acquireLease(storage: Storage, target: string, options: LeaseOptions): Promise<Lease> {
  const clock = options.now ?? now;
  const key = leaseKey(target);
  const holder = holderFor(options.command);
  for (let attempt = 1; ; attempt += 1) {
    const at = clock();
    const record: LeaseRecord = {
      schemaVersion: 1,
      target,
      holder,
      acquiredAt: at.toISOString(),
      renewedAt: at.toISOString(),
      expiresAt: expiry(at, options.ttlMs),
    };
    const created = await storage.createIfAbsent(key, encode(record));
    if (created !== undefined) return new Lease(storage, record, created, options);
    const current = await storage.readVersioned(key);
    if (current !== undefined) {
      const held = parseLease(current.body);
      const ours = held !== undefined && abandoned.has(held.holder.id);
      if (held !== undefined && isHeld(held, at) && !ours) throw new TargetBusyError(held, at);
      const taken = await storage.replaceIfVersion(key, encode(record), current.version);
      if (taken !== undefined) {
        if (ours) {
          abandoned.delete(held.holder.id);
          options.logger?.info(
            { event: 'lease.reclaimed', target, previous: held.holder },
            'took back a lease this process let go of but could not release',
          );
        } else if (held !== undefined && held.releasedAt === undefined) {
          options.logger?.warn(
            { event: 'lease.takeover', target, previous: held.holder, expiredAt: held.expiresAt },
            'took over an expired lease: its holder stopped renewing it',
          );
        }
        return new Lease(storage, record, taken, options);
      }
    }
    // Another process changed the record between the read and the write: look again.
    if (attempt >= ACQUIRE_ATTEMPTS) {
      const latest = await storage.readVersioned(key);
      const held = latest === undefined ? undefined : parseLease(latest.body);
      if (held !== undefined && isHeld(held, clock())) throw new TargetBusyError(held, clock());
      throw new LifeboatError('TARGET_BUSY', `lease: target ${target}: the lease changes hands too fast to take`, {
        hint: 'several processes compete for this target: run one daemon per store',
      });
    }
  }
}

/**
 * Runs `work` holding the target's lease. Its signal aborts when `signal` does or the lease is lost; the
 * lease is released however the work ends.
 */
export async function withLease<T>(
  storage: Storage,
  target: string,
  options: LeaseOptions & { signal?: AbortSignal },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  options.signal?.throwIfAborted();
  const lease = await acquireLease(storage, target, options).catch((error: unknown) => {
    if (error instanceof TargetBusyError || !(error instanceof LifeboatError)) throw error;
    // The store failed before any work began: say what was being done, and keep the store's own hint.
    throw new LifeboatError(
      error.code,
      `${options.command.replace(/^lifeboat /, '')} ${target}: lease: ${error.message}`,
      {
        cause: error,
        hint: error.hint,
        retryable: error.retryable,
      },
    );
  });
  try {
    const signal = options.signal === undefined ? lease.signal : AbortSignal.any([options.signal, lease.signal]);
    return await work(signal);
  } finally {
    await lease.release();
  }
}

/** The lease of a target as stored, for `lifeboat unlock` and status. */
export async function readLease(
  storage: Storage,
  target: string,
): Promise<{ record: LeaseRecord | undefined; version: string } | undefined> {
  const current = await storage.readVersioned(leaseKey(target));
  return current === undefined ? undefined : { record: parseLease(current.body), version: current.version };
}

/**
 * Frees a lease whose holder is gone: refused while it is held (its holder renews it), so that it can only
 * help after a crash. Resolves to what it found.
 */
export async function breakLease(
  storage: Storage,
  target: string,
  options: { now?: Date; by: string },
): Promise<'free' | 'broken'> {
  const at0 = options.now ?? now();
  const current = await readLease(storage, target);
  if (current === undefined || (current.record !== undefined && current.record.releasedAt !== undefined)) return 'free';
  const { record } = current;
  if (record !== undefined && isHeld(record, at0)) {
    throw new LifeboatError('TARGET_BUSY', `unlock: target ${target} is held: ${describeHolder(record, at0)}`, {
      hint: `its holder is alive and renews it; it can be unlocked once it has gone unrenewed past ${record.expiresAt}`,
    });
  }
  const at = at0.toISOString();
  const freed: LeaseRecord =
    record === undefined
      ? {
          schemaVersion: 1,
          target,
          holder: holderFor(options.by),
          acquiredAt: at,
          renewedAt: at,
          expiresAt: at,
          releasedAt: at,
          releasedBy: options.by,
        }
      : { ...record, releasedAt: at, releasedBy: options.by };
  const done = await storage.replaceIfVersion(leaseKey(target), encode(freed), current.version);
  if (done === undefined) {
    throw new LifeboatError('TARGET_BUSY', `unlock: target ${target}: the lease changed while unlocking`, {
      hint: 'another process took it: see who with `lifeboat unlock` again',
    });
  }
  return 'broken';
}
