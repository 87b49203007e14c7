// `verify` of a physical target's WAL: every archived file against its entry, then the chain's continuity.
import type { Storage } from '../storage/storage.js';
import { checkArtifact } from '../verify/verify.js';
import { archiveOf, checkNewest } from './archive.js';
import { describeGap, readRecoveryState } from './state.js';
import { type RecoveryWindow, recoveryWindows, type WalGap } from './windows.js';

export interface WalVerifyResult {
  readonly target: string;
  readonly ok: boolean;
  readonly checked: number;
  /** What is wrong: damaged files, unreadable entries, and the gaps they make, each naming the window broken. */
  readonly problems: readonly string[];
  readonly windows: readonly RecoveryWindow[];
  readonly gaps: readonly WalGap[];
}

export async function verifyWal(
  storage: Storage,
  target: string,
  identities?: readonly string[],
  signal?: AbortSignal,
): Promise<WalVerifyResult> {
  const state = await readRecoveryState(storage, target);
  const problems: string[] = state.damaged.map((d) => d.problem);
  const sound = [];
  for (const listed of state.entries) {
    const { entry, check } = await checkNewest(storage, target, listed, (e) =>
      checkArtifact(storage, e.artifact, { identities, signal }),
    );
    if (check.ok) sound.push(entry);
    else
      problems.push(
        ...check.problems.map((p) => `WAL ${entry.name}${entry.kind === 'partial' ? '.partial' : ''}: ${p}`),
      );
  }
  // A damaged file is as good as missing: the windows are those the sound files open.
  const { windows, gaps } = recoveryWindows(state.bases, archiveOf(sound));
  problems.push(...gaps.map(describeGap));
  return { target, ok: problems.length === 0, checked: state.entries.length, problems, windows, gaps };
}
