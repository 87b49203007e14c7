// S3 storage (AWS S3, MinIO, other S3-compatible servers): streamed multipart uploads, ranged downloads.

import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { parseDuration } from '../../config/duration.js';
import type { S3StorageConfig } from '../../config/schema.js';
import { isAbortError, isRetryable, LifeboatError } from '../../errors.js';
import {
  assertSafeKey,
  assertSafePrefix,
  notFound,
  type PutOptions,
  type Storage,
  type StoredObject,
  type Versioned,
} from '../storage.js';
import { partSizeOf, uploadStream } from './multipart-upload.js';
import { RangedDownload } from './ranged-download.js';

const MiB = 1024 * 1024;

export class S3Storage implements Storage {
  readonly location: string;
  readonly #client: S3Client;
  /** Deletes (retention, leftovers): storage.pruneCredentials where given, else the main client. */
  readonly #deleteClient: S3Client;
  /** For downloads: no socket idle timeout (a slow reader pauses the socket); `#watch` judges stalls. */
  readonly #readClient: S3Client;
  readonly #config: S3StorageConfig;
  readonly #idleMs: number;

  readonly #pageSize: number | undefined;
  readonly #maxParts: number | undefined;

  /**
   * `pageSize` lowers the listing page size (tests exercise pagination with it); `partsPerStep`, how many parts
   * an upload sends before their size doubles, and `maxParts`, how many it may have (tests see the growth and
   * the limit without writing 31 GiB).
   */
  constructor(
    config: S3StorageConfig,
    client?: S3Client,
    options: { pageSize?: number; partsPerStep?: number; maxParts?: number } = {},
  ) {
    assertSafePrefix(config.prefix);
    this.#config = config;
    this.#pageSize = options.pageSize;
    this.location = `s3://${config.bucket}/${config.prefix}`;
    this.#client = client ?? new S3Client(clientConfig(config));
    this.#readClient = client ?? new S3Client({ ...clientConfig(config), requestHandler: readHandler(config) });
    const pruner = config.pruneCredentials;
    this.#deleteClient =
      client ??
      (pruner === undefined
        ? this.#client
        : new S3Client({
            ...clientConfig(config),
            credentials: { accessKeyId: pruner.accessKeyId, secretAccessKey: pruner.secretAccessKey ?? '' },
          }));
    this.#idleMs = parseDuration(config.idleTimeout);
    this.#maxParts = options.maxParts;
    const firstPart = config.partSizeMiB * MiB;
    this.#partSize = (partNumber) => partSizeOf(partNumber, firstPart, options.partsPerStep);
    if (config.verifyUpload === 'store') {
      this.checksumParts = this.#partSize;
      this.storedChecksum = (key) => this.#storedChecksum(key);
    }
  }

  /** The size of each part of a multipart upload (they grow for very large objects: partSizeOf). */
  readonly #partSize: (partNumber: number) => number;
  readonly checksumParts?: (partNumber: number) => number;
  readonly storedChecksum?: (key: string) => Promise<{ size: number; sha256: string | undefined } | undefined>;

  async #storedChecksum(key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
    const result = await this.#headObject(key, 'head', 'ENABLED');
    return result && { size: result.ContentLength ?? 0, sha256: result.ChecksumSHA256 };
  }

  /** HEAD of the object; undefined when there is none. */
  async #headObject(
    key: string,
    verb: string,
    checksumMode?: 'ENABLED',
  ): Promise<import('@aws-sdk/client-s3').HeadObjectCommandOutput | undefined> {
    try {
      return await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#config.bucket, Key: this.#key(key), ChecksumMode: checksumMode }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#wrap(verb, key, error);
    }
  }

  #key(key: string): string {
    assertSafeKey(key);
    return `${this.#config.prefix}${key}`;
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<void> {
    const params = {
      Bucket: this.#config.bucket,
      Key: this.#key(key),
      ContentType: options.contentType ?? 'application/octet-stream',
      ServerSideEncryption: this.#config.serverSideEncryption,
      SSEKMSKeyId: this.#config.sseKmsKeyId,
      StorageClass: this.#config.storageClass as never,
      // The store checks each part's SHA-256 (the SDK sends it) and keeps the object's (#storedChecksum).
      ...(this.checksumParts === undefined ? {} : { ChecksumAlgorithm: 'SHA256' as const }),
      ...this.#lockParams(),
    };
    // A failing source fails the upload with its own error; the AbortError the upload destroys the source
    // with, once it failed itself, is a consequence and masks nothing.
    let sourceError: unknown;
    const onSourceError = (error: unknown) => {
      if (!isAbortError(error)) sourceError = error;
    };
    if (!Buffer.isBuffer(body)) body.on('error', onSourceError);
    try {
      options.signal?.throwIfAborted();
      if (Buffer.isBuffer(body)) {
        await this.#client.send(new PutObjectCommand({ ...params, Body: body }), { abortSignal: options.signal });
      } else {
        // What is read back needs no signed payload (PutOptions.readBack); store mode sends its own SHA-256.
        await uploadStream({
          client: this.#client,
          params,
          body,
          partSize: this.#partSize,
          queueSize: this.#config.queueSize,
          unsignedPayload: options.readBack === true,
          maxParts: this.#maxParts,
          signal: options.signal,
        });
      }
    } catch (error) {
      // A single-part upload that failed after PutObject was sent, or an aborted one, may leave an object.
      await this.delete([key]).catch(() => undefined);
      if (sourceError !== undefined || options.signal?.aborted) throw sourceError ?? options.signal?.reason;
      throw error instanceof LifeboatError ? error : this.#wrap('write', key, error);
    } finally {
      if (!Buffer.isBuffer(body)) body.off('error', onSourceError);
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const { downloadConcurrency: concurrency, downloadRangeMiB } = this.#config;
    const rangeSize = downloadRangeMiB * MiB;
    const ranged = concurrency > 1;
    let answer: Opened;
    try {
      answer = await this.#open(key, options.signal, ranged ? { start: 0, end: rangeSize - 1 } : undefined);
    } catch (error) {
      // An empty object has no byte 0: asked for a range, the store answers 416.
      if (!(ranged && statusOf(rootCause(error)) === 416)) throw error;
      answer = await this.#open(key, options.signal);
    }
    const size = sizeOf(answer.contentRange);
    if (size === undefined || size <= rangeSize || answer.etag === undefined) return answer.body;
    // Larger than one range: the rest comes in ranges side by side, each of the same version of the object.
    const etag = answer.etag;
    return new RangedDownload({
      first: answer.body,
      size,
      rangeSize,
      concurrency,
      attempts: RANGE_ATTEMPTS,
      signal: options.signal,
      openRange: async (start, end, signal) => (await this.#open(key, signal, { start, end, etag })).body,
    });
  }

  /**
   * A GET of the object (or of bytes start-end of the version `etag`): its answer's headers must come within
   * the idle timeout; after them, the body is watched instead (watchDownload).
   */
  async #open(
    key: string,
    signal: AbortSignal | undefined,
    range?: { start: number; end: number; etag?: string },
  ): Promise<Opened> {
    const headers = new AbortController();
    const timer = setTimeout(
      () => headers.abort(Object.assign(new Error(`no answer within ${this.#idleMs} ms`), { name: 'TimeoutError' })),
      this.#idleMs,
    );
    const onAbort = () => headers.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await this.#readClient.send(
        new GetObjectCommand({
          Bucket: this.#config.bucket,
          Key: this.#key(key),
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end}`,
          IfMatch: range?.etag,
        }),
        { abortSignal: headers.signal },
      );
      const body = watchDownload(result.Body as Readable, this.#idleMs, signal, (error) =>
        this.#wrap('read', key, error),
      );
      return { body, contentRange: result.ContentRange, etag: result.ETag };
    } catch (error) {
      if (isNotFound(error)) throw notFound(key, this.location, error);
      if (signal?.aborted) throw signal.reason;
      if (range?.etag !== undefined && statusOf(rootCause(error)) === 412) {
        throw new LifeboatError(
          'STORAGE',
          `storage: read ${key} at ${this.location}: the object changed during the download`,
          {
            cause: error,
            hint: 'something else writes this key: read it again once that has stopped',
          },
        );
      }
      throw this.#wrap('read', key, headers.signal.aborted ? headers.signal.reason : error);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    const result = await this.#headObject(key, 'head');
    return result && { size: result.ContentLength ?? 0 };
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      let page: import('@aws-sdk/client-s3').ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#config.bucket,
            Prefix: `${this.#config.prefix}${prefix}`,
            ContinuationToken: token,
            MaxKeys: this.#pageSize,
          }),
        );
      } catch (error) {
        throw this.#wrap('list', prefix, error);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key.slice(this.#config.prefix.length), size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Object Lock headers of a new object: the configured mode, until now plus the retain period. */
  #lockParams(): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
    const lock = this.#config.objectLock;
    if (lock === undefined) return {};
    return {
      ObjectLockMode: lock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
      ObjectLockRetainUntilDate: new Date(Date.now() + parseDuration(lock.retain)),
    };
  }

  async lockedUntil(key: string): Promise<Date | undefined> {
    if (this.#config.objectLock === undefined) return undefined;
    const result = await this.#headObject(key, 'read the lock of');
    if (result === undefined) return undefined;
    const until = result.ObjectLockRetainUntilDate;
    if (result.ObjectLockLegalHoldStatus === 'ON') return new Date(8.64e15);
    return until !== undefined && until.getTime() > Date.now() ? until : undefined;
  }

  async delete(keys: readonly string[]): Promise<void> {
    // With Object Lock the bucket keeps versions: a plain delete would only hide the data behind a delete
    // marker. Every version of the key goes instead (the store refuses those still locked).
    if (this.#config.objectLock !== undefined) {
      await this.#deleteVersions(keys);
      return;
    }
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      try {
        const result = await this.#deleteClient.send(
          new DeleteObjectsCommand({
            Bucket: this.#config.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.#key(key) })), Quiet: true },
          }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) {
          throw new Error(failed.map((e) => `${e.Key}: ${e.Code} ${e.Message}`).join('; '));
        }
      } catch (error) {
        throw this.#wrap('delete', batch.join(', '), error, 'delete');
      }
    }
  }

  async #deleteVersions(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const full = this.#key(key);
      const versions: { Key: string; VersionId?: string }[] = [];
      try {
        let keyMarker: string | undefined;
        let versionMarker: string | undefined;
        do {
          const page = await this.#deleteClient.send(
            new ListObjectVersionsCommand({
              Bucket: this.#config.bucket,
              Prefix: full,
              KeyMarker: keyMarker,
              VersionIdMarker: versionMarker,
            }),
          );
          for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
            if (v.Key === full) versions.push({ Key: full, VersionId: v.VersionId });
          }
          keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
          versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
        } while (keyMarker !== undefined);
        if (versions.length === 0) continue;
        const result = await this.#deleteClient.send(
          new DeleteObjectsCommand({ Bucket: this.#config.bucket, Delete: { Objects: versions, Quiet: true } }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) throw new Error(failed.map((e) => `${e.Key}: ${e.Code} ${e.Message}`).join('; '));
      } catch (error) {
        throw this.#wrap('delete', key, error, 'delete');
      }
    }
  }

  async readVersioned(key: string): Promise<Versioned | undefined> {
    try {
      const result = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#config.bucket, Key: this.#key(key) }),
      );
      const body = Buffer.from((await result.Body?.transformToByteArray()) ?? []);
      if (result.ETag === undefined) throw new Error('the answer has no ETag');
      return { body, version: result.ETag };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#wrap('read', key, error);
    }
  }

  createIfAbsent(key: string, body: Buffer): Promise<string | undefined> {
    return this.#putIf(key, body, { IfNoneMatch: '*' });
  }

  replaceIfVersion(key: string, body: Buffer, version: string): Promise<string | undefined> {
    return this.#putIf(key, body, { IfMatch: version });
  }

  /**
   * A conditional PutObject (AWS S3 and MinIO honour both headers). 412 means the condition did not hold;
   * 409 that another conditional write to the key raced this one: either way, this write did not happen.
   */
  async #putIf(
    key: string,
    body: Buffer,
    condition: { IfNoneMatch: '*' } | { IfMatch: string },
  ): Promise<string | undefined> {
    try {
      const result = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#config.bucket,
          Key: this.#key(key),
          Body: body,
          ContentType: 'application/json',
          ServerSideEncryption: this.#config.serverSideEncryption,
          SSEKMSKeyId: this.#config.sseKmsKeyId,
          ...condition,
        }),
      );
      if (result.ETag === undefined) throw new Error('the answer has no ETag');
      return result.ETag;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409) return undefined;
      // If-Match on a key that is gone.
      if ('IfMatch' in condition && isNotFound(error)) return undefined;
      throw this.#wrap('write', key, error);
    }
  }

  async removeStaleUploads(prefix: string, olderThan: Date): Promise<number> {
    // MinIO lists multipart uploads only for an exact key or for the whole bucket, so the whole bucket is
    // listed and filtered here.
    const wanted = `${this.#config.prefix}${prefix}`;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page: import('@aws-sdk/client-s3').ListMultipartUploadsCommandOutput;
      try {
        page = await this.#deleteClient.send(
          new ListMultipartUploadsCommand({
            Bucket: this.#config.bucket,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (error) {
        throw this.#wrap('list multipart uploads', prefix, error);
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined || !upload.Key.startsWith(wanted)) continue;
        if (upload.Initiated === undefined || upload.Initiated.getTime() >= olderThan.getTime()) continue;
        try {
          await this.#deleteClient.send(
            new AbortMultipartUploadCommand({
              Bucket: this.#config.bucket,
              Key: upload.Key,
              UploadId: upload.UploadId,
            }),
          );
        } catch (error) {
          throw this.#wrap('abort multipart upload', upload.Key, error);
        }
        removed += 1;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return removed;
  }

  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#config.bucket }));
    } catch (error) {
      throw this.#wrap('reach bucket', this.#config.bucket, error);
    }
    if (this.#config.objectLock === undefined) return;
    let enabled = false;
    try {
      const result = await this.#client.send(new GetObjectLockConfigurationCommand({ Bucket: this.#config.bucket }));
      enabled = result.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (error) {
      if ((error as Error).name !== 'ObjectLockConfigurationNotFoundError') {
        throw this.#wrap('read the Object Lock configuration of bucket', this.#config.bucket, error);
      }
    }
    if (!enabled) {
      throw new LifeboatError(
        'CONFIG_INVALID',
        `storage.objectLock: bucket "${this.#config.bucket}" does not have Object Lock enabled, so nothing would be locked`,
        {
          exitCode: 2,
          hint: 'Object Lock can only be chosen when a bucket is created (e.g. `aws s3api create-bucket --object-lock-enabled-for-bucket`, `mc mb --with-lock`): use such a bucket, or remove storage.objectLock',
        },
      );
    }
  }

  #wrap(verb: string, key: string, error: unknown, operation?: 'delete'): LifeboatError {
    const explained = explainS3Error(error, this.#config);
    const { text } = explained;
    let { hint } = explained;
    if (operation === 'delete' && /AccessDenied/.test(text)) {
      hint =
        this.#config.pruneCredentials === undefined
          ? 'these credentials may not delete (a write-only key): give retention its own with storage.pruneCredentials'
          : 'storage.pruneCredentials may not delete here: allow s3:DeleteObject (and s3:DeleteObjectVersion with Object Lock) on the bucket';
    }
    return new LifeboatError('STORAGE', `storage: ${verb} ${key} at ${this.location}: ${text}`, {
      cause: error,
      hint,
      retryable: isRetryable(rootCause(error)),
    });
  }
}

/** The root cause of an S3 failure in words, and what to try: credentials, bucket, endpoint or network. */
export function explainS3Error(
  error: unknown,
  config: Pick<S3StorageConfig, 'bucket' | 'endpoint'>,
): { text: string; hint: string | undefined } {
  const root = rootCause(error);
  const status = statusOf(root);
  const name = (root as Error).name ?? 'Error';
  const code = (root as NodeJS.ErrnoException).code;
  const message = (root as Error).message || name;
  const endpoint = config.endpoint ?? 'the S3 endpoint';
  const text = code !== undefined && !message.includes(code) ? `${name}: ${message} (${code})` : `${name}: ${message}`;
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'InvalidToken') {
    return { text, hint: 'check storage.accessKeyId and the secret key (storage.secretAccessKeyFile)' };
  }
  if (name === 'AccessDenied' || status === 403) {
    return { text, hint: `the credentials may not do this on bucket "${config.bucket}": check their policy` };
  }
  if (name === 'NoSuchBucket' || (status === 404 && /bucket/i.test(message))) {
    return { text, hint: `create the bucket "${config.bucket}" or fix storage.bucket` };
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code ?? '') || /certificate/i.test(message)) {
    return {
      text,
      hint: `the TLS certificate of ${endpoint} is not trusted: for a private CA set storage.caFile to its PEM file`,
    };
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
    return { text, hint: `nothing answers at ${endpoint}: check storage.endpoint and that the server runs` };
  }
  if (
    name === 'TimeoutError' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    /socket hang up|aborted|timed out/i.test(message)
  ) {
    return {
      text,
      hint: `the connection to ${endpoint} broke or stalled (network, proxy or server restart); running again may succeed (timeouts: storage.connectTimeout, storage.idleTimeout)`,
    };
  }
  if (status !== undefined && status >= 500) {
    return { text, hint: `the store answered ${status}: a server-side failure; running again may succeed` };
  }
  return { text, hint: status === undefined ? `check that ${endpoint} is reachable` : undefined };
}

/** The innermost error: the SDK and lib-storage wrap the one that tells what happened. */
function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5; depth += 1) {
    const cause = (current as { cause?: unknown } | undefined)?.cause;
    if (cause === undefined || cause === null || typeof cause !== 'object') break;
    current = cause;
  }
  return current;
}

/**
 * Passes a download on, failing it when the store sends nothing for `idleMs` while the reader wants more.
 * A reader that is slow on purpose (pg_restore waiting for a lock, building an index) fills the buffer and
 * pauses the socket: that time is not a stall, which is why the socket's own idle timeout is not used here.
 * Errors of the body reach the reader as storage errors, with their cause and what to try.
 */
function watchDownload(
  body: Readable,
  idleMs: number,
  signal: AbortSignal | undefined,
  wrap: (error: unknown) => LifeboatError,
): Readable {
  const out = new PassThrough();
  let lastProgress = Date.now();
  body.on('data', () => {
    lastProgress = Date.now();
  });
  const fail = (error: unknown) => {
    clearInterval(timer);
    body.destroy();
    if (!out.destroyed) out.destroy(signal?.aborted ? signal.reason : wrap(error));
  };
  const timer = setInterval(
    () => {
      if (out.readableLength >= out.readableHighWaterMark || out.writableLength >= out.writableHighWaterMark) {
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > idleMs) {
        fail(
          Object.assign(new Error(`the download timed out after ${idleMs} ms of inactivity`), { name: 'TimeoutError' }),
        );
      }
    },
    Math.min(1000, Math.max(50, idleMs / 4)),
  );
  timer.unref();
  body.once('error', fail);
  body.once('end', () => clearInterval(timer));
  out.once('close', () => {
    clearInterval(timer);
    if (!body.readableEnded) body.destroy();
  });
  signal?.addEventListener('abort', () => fail(signal.reason), { once: true });
  body.pipe(out);
  return out;
}

/** The download client's handler: a connection timeout, and no socket idle timeout (see watchDownload). */
function readHandler(config: S3StorageConfig): S3ClientConfig['requestHandler'] {
  return { connectionTimeout: parseDuration(config.connectTimeout), ...httpsAgent(config) };
}

/** An HTTPS agent that trusts storage.caFile (a private CA), where one is configured. */
function httpsAgent(config: S3StorageConfig): { httpsAgent?: Agent } {
  if (config.caFile === undefined) return {};
  let ca: Buffer;
  try {
    ca = readFileSync(config.caFile);
  } catch (error) {
    throw new LifeboatError(
      'CONFIG_INVALID',
      `storage.caFile: read ${config.caFile}: ${(error as NodeJS.ErrnoException).code}`,
      {
        exitCode: 2,
        cause: error,
      },
    );
  }
  return { httpsAgent: new Agent({ ca: [...rootCertificates, ca.toString()], keepAlive: true }) };
}

/** Client settings that work with AWS and with S3-compatible servers. */
export function clientConfig(config: S3StorageConfig): S3ClientConfig {
  return {
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    // Since 3.729 the SDK adds CRC checksums to every request; many S3-compatible servers reject them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    // A connection that never opens, or stops moving, fails instead of hanging a restore for ever.
    requestHandler: {
      connectionTimeout: parseDuration(config.connectTimeout),
      socketTimeout: parseDuration(config.idleTimeout),
      ...httpsAgent(config),
    },
    credentials:
      config.accessKeyId !== undefined && config.secretAccessKey !== undefined
        ? {
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
            sessionToken: config.sessionToken,
          }
        : undefined,
  };
}

interface Opened {
  readonly body: Readable;
  readonly contentRange: string | undefined;
  readonly etag: string | undefined;
}

/** Tries of one range of a download whose failure is transient (a broken connection, a 5xx). */
const RANGE_ATTEMPTS = 3;

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** The object's size from a Content-Range ("bytes 0-8388607/52428800"); undefined without one. */
function sizeOf(contentRange: string | undefined): number | undefined {
  const total = contentRange === undefined ? undefined : /\/(\d+)$/.exec(contentRange)?.[1];
  return total === undefined ? undefined : Number(total);
}

function isNotFound(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}
