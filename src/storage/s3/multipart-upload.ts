// A stream into one S3 object, in parts uploaded side by side from a fixed set of part buffers: the bytes are
// copied once, into a buffer that is used again for a later part, so an upload holds (queueSize + 1) parts of
// memory, and gives it back the moment it is done (not at the garbage collector's next full collection).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { LifeboatError } from '../../errors.js';
import { releaseNow } from '../../memory.js';

/** S3's limits: parts of one upload, and the size of one part. */
export const MAX_PARTS = 10_000;
const MAX_PART_SIZE = 5 * 1024 ** 3;

/** Parts keep the configured size this many at a time, then double (see partSizeOf). */
export const PARTS_PER_STEP = 2000;

/**
 * The size of part `partNumber` (from 1). The first PARTS_PER_STEP parts have `firstPartSize`, the next as many
 * twice that, and so on: small parts, and little memory, for the backups most people have (15.6 GiB of them at
 * 8 MiB), and room for 31 times as much before S3's 10,000 parts run out.
 */
export function partSizeOf(partNumber: number, firstPartSize: number, partsPerStep = PARTS_PER_STEP): number {
  return Math.min(MAX_PART_SIZE, firstPartSize * 2 ** Math.floor((partNumber - 1) / partsPerStep));
}

/** The largest object that fits in `maxParts` parts sized by `partSize`. */
export function largestObject(partSize: (partNumber: number) => number, maxParts = MAX_PARTS): number {
  let total = 0;
  for (let part = 1; part <= maxParts; part++) total += partSize(part);
  return total;
}

export interface UploadRequest {
  readonly client: S3Client;
  /** What the new object gets (bucket, key, content type, encryption, lock, checksum algorithm). */
  readonly params: Omit<PutObjectCommandInput, 'Body'> & { Bucket: string; Key: string };
  readonly body: Readable;
  readonly partSize: (partNumber: number) => number;
  /** Parts uploaded at once. */
  readonly queueSize: number;
  /** The caller reads the object back (PutOptions.readBack): parts are sent with UNSIGNED-PAYLOAD. */
  readonly unsignedPayload?: boolean;
  /** Parts one upload may have: S3's 10,000 (tests lower it). */
  readonly maxParts?: number;
  readonly signal?: AbortSignal;
}

/**
 * Uploads `body` as one object: a single PUT when it fits in the first part, else a multipart upload. Reading
 * waits while `queueSize` parts are on their way (back-pressure). On any failure the parts still in flight are
 * stopped, the multipart upload is aborted, and the body is destroyed with an AbortError; the first error is
 * thrown. A failure of `body` itself is thrown as it is.
 */
export async function uploadStream(request: UploadRequest): Promise<void> {
  const { client, params, body, partSize, queueSize, maxParts = MAX_PARTS, unsignedPayload = false } = request;
  const stop = new AbortController();
  const pool = new PartBuffers();
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let created: Promise<string> | undefined;
  /** The first error (of a part, the source or the upload): the one thrown. */
  const failures: unknown[] = [];
  const fail = (error: unknown) => {
    if (failures.push(error) > 1) return;
    stop.abort(error);
    body.destroy(Object.assign(new Error('the upload failed', { cause: error }), { name: 'AbortError' }));
  };
  // An abort stops the parts on their way and the reading, even of a source that sends nothing more.
  const onAbort = () => fail(request.signal?.reason);
  request.signal?.addEventListener('abort', onAbort, { once: true });

  const create = async (): Promise<string> => {
    const answer = await client.send(new CreateMultipartUploadCommand(params), { abortSignal: stop.signal });
    if (answer.UploadId === undefined) throw new Error('CreateMultipartUpload answered no UploadId');
    return answer.UploadId;
  };
  const send = (partNumber: number, buffer: Buffer, length: number) => {
    created ??= create();
    const sending = (async () => {
      const uploadId = await created;
      const body = buffer.subarray(0, length);
      const answer = await client.send(
        payloadHash(
          new UploadPartCommand({
            Bucket: params.Bucket,
            Key: params.Key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ChecksumAlgorithm: params.ChecksumAlgorithm,
          }),
          body,
          unsignedPayload,
        ),
        { abortSignal: stop.signal },
      );
      if (answer.ETag === undefined) throw new Error(`UploadPart ${partNumber} answered no ETag`);
      parts.push({ PartNumber: partNumber, ETag: answer.ETag, ChecksumSHA256: answer.ChecksumSHA256 });
      pool.give(buffer);
    })().catch(fail);
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
  };

  let partNumber = 1;
  let buffer = pool.take(partSize(partNumber));
  let filled = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        // A full part is sent only once more bytes follow it: an object that fits in one part is one PUT.
        if (filled === buffer.length) {
          if (partNumber === maxParts) throw tooLarge(params, partSize, maxParts);
          while (inFlight.size >= queueSize) await Promise.race(inFlight);
          if (failures.length > 0) throw failures[0];
          send(partNumber, buffer, filled);
          partNumber += 1;
          buffer = pool.take(partSize(partNumber));
          filled = 0;
        }
        const copied = chunk.copy(buffer, filled, offset);
        filled += copied;
        offset += copied;
      }
    }
    if (failures.length > 0) throw failures[0];
    if (created === undefined) {
      const body = buffer.subarray(0, filled);
      await client.send(payloadHash(new PutObjectCommand({ ...params, Body: body }), body, unsignedPayload), {
        abortSignal: stop.signal,
      });
      pool.give(buffer);
      pool.release();
      return;
    }
    send(partNumber, buffer, filled);
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failures.length > 0) throw failures[0];
    // Every part was answered and its buffer given back. (After a failure the buffers of parts not answered
    // are left to the garbage collector: a request cut short may still be writing one out.)
    pool.release();
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: await created,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: stop.signal },
    );
  } catch (error) {
    fail(error);
    await Promise.allSettled(inFlight);
    if (created !== undefined) await abortUpload(client, params, await created.catch(() => undefined));
    throw failures[0];
  } finally {
    request.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Aborts a failed upload. Its id is unknown when the creation was cut short (an abort, a broken connection),
 * though the store may have made the upload before its answer was lost: then every upload of exactly this key
 * is aborted (a backup's keys are its own). One the listing misses, or that the credentials may not list, is
 * removed later by prune (`removeStaleUploads`).
 */
async function abortUpload(
  client: S3Client,
  params: { Bucket: string; Key: string },
  uploadId: string | undefined,
): Promise<void> {
  const ids =
    uploadId !== undefined
      ? [uploadId]
      : await client.send(new ListMultipartUploadsCommand({ Bucket: params.Bucket, Prefix: params.Key })).then(
          (page) => (page.Uploads ?? []).filter((u) => u.Key === params.Key).flatMap((u) => u.UploadId ?? []),
          () => [],
        );
  for (const id of ids) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: id }))
      .catch(() => undefined);
  }
}

/**
 * The hash of a request's body, taken once or not at all. A request that asks for an SHA-256 checksum
 * (`verifyUpload: store`) hashes its body here, once: the SDK would hash it twice, for the checksum header and
 * for the request's signature (SigV4 signs a Buffer body's SHA-256); the same digest is given to both. A body
 * the caller reads back (`unsigned`) is left out of the signature (UNSIGNED-PAYLOAD): nobody hashes it, the
 * store does not either, and the read-back proves what arrived. Any other request is left as it is.
 */
function payloadHash<C extends UploadPartCommand | PutObjectCommand>(command: C, body: Buffer, unsigned: boolean): C {
  let signed: string;
  if (command.input.ChecksumAlgorithm === 'SHA256') {
    const digest = createHash('sha256').update(body).digest();
    command.input.ChecksumSHA256 = digest.toString('base64');
    signed = digest.toString('hex');
  } else if (unsigned) {
    signed = 'UNSIGNED-PAYLOAD';
  } else {
    return command;
  }
  const signedHash = (next: (args: BuildArgs) => Promise<unknown>) => (args: BuildArgs) => {
    args.request.headers['x-amz-content-sha256'] = signed;
    return next(args);
  };
  (command.middlewareStack as unknown as BuildStack).add(signedHash, { step: 'build', name: 'lifeboatPayloadSha256' });
  return command;
}

/** The little of the SDK's middleware types that payloadHash uses. */
interface BuildArgs {
  readonly request: { headers: Record<string, string> };
}
interface BuildStack {
  add(
    middleware: (next: (args: BuildArgs) => Promise<unknown>) => (args: BuildArgs) => Promise<unknown>,
    options: { step: 'build'; name: string },
  ): void;
}

/**
 * Part buffers to use again: a buffer is given back once its part is answered (nothing reads it any more), and
 * goes on only while parts still have its size; the others' memory is given back at once (see release).
 */
class PartBuffers {
  #free: Buffer[] = [];

  take(size: number): Buffer {
    const free = this.#free.pop();
    if (free !== undefined && free.length === size) return free;
    if (free !== undefined) {
      this.#free.push(free);
      this.release();
    }
    return Buffer.allocUnsafeSlow(size);
  }

  give(buffer: Buffer): void {
    this.#free.push(buffer);
  }

  /**
   * Gives the memory of every buffer given back so far now, not at the garbage collector's next full collection
   * (which the read-back after an upload would otherwise find still holding them): a detached buffer reads as
   * empty, and only answered parts' buffers are here.
   */
  release(): void {
    for (const buffer of this.#free) releaseNow(buffer);
    this.#free = [];
  }
}

function tooLarge(
  params: UploadRequest['params'],
  partSize: (partNumber: number) => number,
  maxParts: number,
): LifeboatError {
  const limit = (largestObject(partSize, maxParts) / 1024 ** 3).toFixed(2);
  return new LifeboatError(
    'STORAGE',
    `storage: write ${params.Key}: the object is larger than the ${limit} GiB that ${maxParts} parts can hold`,
    { hint: 'raise storage.partSizeMiB (each doubling doubles the largest object, and the memory of an upload)' },
  );
}
