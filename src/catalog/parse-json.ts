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
