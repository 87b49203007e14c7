// Encrypts standard input to standard output with Lifeboat's age stream (recipients as arguments): the
// benchmark times it against the reference `age -r` on the same bytes. `--identity FILE` decrypts instead.
import { readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { AgeDecrypter, AgeEncrypter, identitiesIn } from '../src/pipeline/age.js';

const args = process.argv.slice(2);
const stage =
  args[0] === '--identity'
    ? new AgeDecrypter(identitiesIn(readFileSync(args[1] as string, 'utf8')))
    : new AgeEncrypter(args);
await pipeline(process.stdin, stage, process.stdout);
