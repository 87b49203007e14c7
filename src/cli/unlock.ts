// `lifeboat unlock TARGET [--yes]`: frees a target whose lease holder died and did not come back. Refused
// while the lease is held (its holder renews it); asks for confirmation unless --yes.

import { createInterface } from 'node:readline/promises';
import { now as wallNow } from '../clock.js';
import { UsageError } from '../errors.js';
import { breakLease, describeHolder, isHeld, readLease } from '../lease/lease.js';
import { type CommandContext, findTarget } from './context.js';

export async function unlockCommand(ctx: CommandContext, name: string, flags: { yes?: boolean }): Promise<number> {
  findTarget(ctx.config, name);
  const current = await readLease(ctx.storage, name);
  const now = wallNow();
  if (current === undefined || current.record?.releasedAt !== undefined) {
    process.stdout.write(`${name}: not locked\n`);
    return 0;
  }
  const { record } = current;
  const held = record !== undefined && isHeld(record, now);
  const about =
    record === undefined
      ? 'its lease record is unreadable'
      : `${describeHolder(record, now)}; ${held ? 'expires' : 'expired'} at ${record.expiresAt}`;
  // breakLease refuses a held lease itself; asking first would only waste the operator's answer.
  if (!held && flags.yes !== true) {
    if (!process.stdin.isTTY) {
      throw new UsageError(`unlock ${name}: ${about}: confirm with --yes`, 'add --yes to unlock without a question');
    }
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await prompt.question(`${name}: ${about}.\nUnlock it? Only if that process is gone [y/N] `);
    prompt.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      process.stdout.write(`${name}: left as it is\n`);
      return 1;
    }
  }
  await breakLease(ctx.storage, name, { now, by: 'lifeboat unlock' });
  process.stdout.write(`${name}: unlocked (${about})\n`);
  return 0;
}
