// age keys made by the reference tool (Debian's `age`), and its decryption, for the encryption tests.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AgeKey {
  /** File holding the identity (AGE-SECRET-KEY-1…), as age-keygen writes it. */
  readonly identityFile: string;
  /** The identity line itself. */
  readonly identity: string;
  /** Its public recipient (age1…). */
  readonly recipient: string;
}

/** A new key pair from `age-keygen`. */
export async function ageKeygen(): Promise<AgeKey> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-age-'));
  const identityFile = join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', identityFile], { stdio: 'ignore' });
  const identity = (await readFile(identityFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'));
  if (identity === undefined) throw new Error('age-keygen wrote no identity');
  const recipient = execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim();
  return { identityFile, identity, recipient };
}

/** `age -d -i identityFile` of `bytes`: what a person without Lifeboat would do. */
export function ageDecrypt(identityFile: string, bytes: Buffer): Buffer {
  return execFileSync('age', ['-d', '-i', identityFile], { input: bytes, maxBuffer: 1 << 30 });
}

/** `age -r recipient` of `bytes`. */
export function ageEncrypt(recipient: string, bytes: Buffer): Buffer {
  return execFileSync('age', ['-r', recipient], { input: bytes, maxBuffer: 1 << 30 });
}
