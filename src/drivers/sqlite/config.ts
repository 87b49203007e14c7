// A `targets:` entry of the SQLite driver.
import { z } from 'zod';
import { drillSchema, runSettings, targetEncryption, targetName } from '../../config/parts.js';

export const sqliteTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('sqlite'),
    path: z.string().min(1).describe('The live database file.'),
    drill: drillSchema.optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .describe('A SQLite database file, copied online with the SQLite backup API.');

/** A drill must never restore into the live database file. */
export function sqliteDrillToProblem(target: z.infer<typeof sqliteTarget>): string | undefined {
  const to = target.drill?.to;
  if (to === undefined) return undefined;
  return to.replace(/\/+$/, '') === target.path
    ? 'is the live database file; give a folder for scratch copies'
    : undefined;
}
