// Reading stored JSON documents (manifests, drill records) against their schema, with errors naming the key.
import type { z } from 'zod';
import { IntegrityError } from '../errors.js';

/** Parses `bytes` as JSON valid for `schema`; the error reads `<module>: parse <key>: <field>: <problem>`. */
export function parseStoredJson<T extends z.ZodType>(
  schema: T,
  bytes: Buffer | string,
  key: string,
  module: string,
): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch (error) {
    throw new IntegrityError(`${module}: parse ${key}: not JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new IntegrityError(`${module}: parse ${key}: ${first?.path.join('.') || '(root)'}: ${first?.message}`);
  }
  return result.data;
}

/**
 * Reads stored documents `batch` at a time. One that fails its checks (an IntegrityError) is reported as
 * damaged instead of failing the whole, one gone since it was listed (undefined) is left out; any other error
 * (a store that cannot be read) rejects.
 */
export async function readStoredBatches<K, T>(
  keys: readonly K[],
  batch: number,
  read: (key: K) => Promise<T | undefined>,
): Promise<{ found: { key: K; value: T }[]; damaged: { key: K; problem: string }[] }> {
  const found: { key: K; value: T }[] = [];
  const damaged: { key: K; problem: string }[] = [];
  for (let start = 0; start < keys.length; start += batch) {
    const results = await Promise.all(
      keys.slice(start, start + batch).map(async (key) => {
        try {
          return { key, value: await read(key) };
        } catch (error) {
          if (!(error instanceof IntegrityError)) throw error;
          return { key, problem: error.message };
        }
      }),
    );
    // In the order of `keys`, whichever answered first.
    for (const item of results) {
      if (item.problem !== undefined) damaged.push({ key: item.key, problem: item.problem });
      else if (item.value !== undefined) found.push({ key: item.key, value: item.value });
    }
  }
  return { found, damaged };
}
