// What a physical PostgreSQL target can be recovered to: the rule of docs/FORMAT.md, as pure functions of the
// base backups and the archived WAL (no store, no clock), so they are tested on their own.
import {
  parseSegmentName,
  segmentName,
  segmentOf,
  type TimelinePath,
  type TimelineSwitch,
  timelineForSegment,
  timelinePath,
} from './segment.js';

/** A committed base backup, as the windows need it. */
export interface BaseBackupInfo {
  readonly id: string;
  readonly timeline: number;
  readonly startLsn: number;
  readonly endLsn: number;
  readonly segmentSize: number;
  /** When the backup became consistent (its end): the earliest time it can be recovered to. */
  readonly consistentAt: number;
}

/** An archived WAL file (a whole segment or the newest partial copy of one). */
export interface ArchivedSegment {
  readonly name: string;
  readonly partial: boolean;
  /** Every commit made before this time is in the chain of files up to this one (a window ends here). */
  readonly coveredUntil: number;
  readonly size: number;
}

export interface WalArchive {
  /** Whole segments by name. */
  readonly segments: ReadonlyMap<string, ArchivedSegment>;
  /** Partial copies by segment name (without ".partial"). */
  readonly partials: ReadonlyMap<string, ArchivedSegment>;
  /** Parsed history files by timeline. */
  readonly histories: ReadonlyMap<number, readonly TimelineSwitch[]>;
}

/** Times from..to (milliseconds) that can be recovered to on one timeline. */
export interface RecoveryWindow {
  readonly timeline: number;
  readonly from: number;
  readonly to: number;
  /** The base backups that open this window, oldest first. */
  readonly bases: readonly string[];
}

/** A base backup that cannot be recovered at all on a timeline, or whose WAL stops at a missing segment. */
export interface WalGap {
  readonly timeline: number;
  readonly base: string;
  /** The first segment that is needed and missing. */
  readonly missing: string;
  /** The window up to the gap ends here (undefined: the backup itself cannot become consistent). */
  readonly after?: number;
}

/** What a recovery from one base backup can reach on one timeline's path. */
export interface BaseReach {
  readonly base: BaseBackupInfo;
  readonly path: TimelinePath;
  /** Needed files, in order, up to the last one present. */
  readonly files: readonly ArchivedSegment[];
  /** Recoverable to this time (undefined: not even consistent). */
  readonly until?: number;
  readonly missing?: string;
}

/** The timelines known to the archive: 1, every one with a history file, every one with a segment. */
export function knownTimelines(archive: WalArchive, segmentSize: number): number[] {
  const timelines = new Set<number>([1, ...archive.histories.keys()]);
  for (const name of [...archive.segments.keys(), ...archive.partials.keys()]) {
    const parsed = parseSegmentName(name, segmentSize);
    if (parsed !== undefined) timelines.add(parsed.timeline);
  }
  return [...timelines].sort((a, b) => a - b);
}

export function pathOf(archive: WalArchive, timeline: number, segmentSize: number): TimelinePath {
  return timelinePath(timeline, archive.histories.get(timeline) ?? [], segmentSize);
}

/** Walks the WAL a base backup needs on `path`, from its first segment until one is missing. */
export function reach(base: BaseBackupInfo, path: TimelinePath, archive: WalArchive): BaseReach | undefined {
  const size = base.segmentSize;
  // The base must have been taken on a timeline of this path, before the path left it.
  const step = path.steps.findIndex((s) => s.timeline === base.timeline);
  if (step < 0) return undefined;
  const next = path.steps[step + 1];
  if (next !== undefined && base.endLsn > next.beginLsn) return undefined;
  const files: ArchivedSegment[] = [];
  const last = segmentOf(Math.max(base.endLsn - 1, base.startLsn), size);
  let segment = segmentOf(base.startLsn, size);
  for (;;) {
    const name = segmentName(timelineForSegment(path, segment), segment, size);
    const whole = archive.segments.get(name);
    if (whole !== undefined) {
      files.push(whole);
      segment += 1;
      continue;
    }
    const partial = archive.partials.get(name);
    if (partial !== undefined) files.push(partial);
    const reached = partial === undefined ? segment - 1 : segment;
    if (reached < last) return { base, path, files, missing: name };
    const end = files[files.length - 1];
    const until = end === undefined ? undefined : Math.max(end.coveredUntil, base.consistentAt);
    // Segments further on the path, after a missing one, mean the chain has a hole here.
    const beyond = partial === undefined && hasLater(archive, path, segment, size) ? name : undefined;
    return { base, path, files, until, missing: beyond };
  }
}

function hasLater(archive: WalArchive, path: TimelinePath, segment: number, size: number): boolean {
  for (const name of [...archive.segments.keys(), ...archive.partials.keys()]) {
    const parsed = parseSegmentName(name, size);
    if (parsed === undefined || parsed.segment <= segment) continue;
    if (timelineForSegment(path, parsed.segment) === parsed.timeline) return true;
  }
  return false;
}

/** The recoverable windows of every timeline, and the gaps that end or prevent them. */
export function recoveryWindows(
  bases: readonly BaseBackupInfo[],
  archive: WalArchive,
): { windows: RecoveryWindow[]; gaps: WalGap[] } {
  const windows: RecoveryWindow[] = [];
  const gaps: WalGap[] = [];
  const size = bases[0]?.segmentSize;
  if (size === undefined) return { windows, gaps };
  for (const timeline of knownTimelines(archive, size)) {
    const path = pathOf(archive, timeline, size);
    const spans: { from: number; to: number; base: string }[] = [];
    for (const base of [...bases].sort((a, b) => a.consistentAt - b.consistentAt)) {
      const got = reach(base, path, archive);
      if (got === undefined) continue;
      if (got.missing !== undefined) gaps.push({ timeline, base: base.id, missing: got.missing, after: got.until });
      if (got.until !== undefined) spans.push({ from: base.consistentAt, to: got.until, base: base.id });
    }
    // Overlapping spans make one window; the gap between two is a time nothing can be recovered to.
    let open: { from: number; to: number; bases: string[] } | undefined;
    for (const span of spans) {
      if (open !== undefined && span.from <= open.to) {
        open.to = Math.max(open.to, span.to);
        open.bases.push(span.base);
        continue;
      }
      if (open !== undefined) windows.push({ timeline, ...open });
      open = { from: span.from, to: span.to, bases: [span.base] };
    }
    if (open !== undefined) windows.push({ timeline, ...open });
  }
  return { windows, gaps: dedupeGaps(gaps) };
}

function dedupeGaps(gaps: WalGap[]): WalGap[] {
  const seen = new Set<string>();
  return gaps.filter((gap) => {
    const key = `${gap.timeline}:${gap.missing}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What a recovery to one time needs. */
export interface RecoveryPlan {
  readonly timeline: number;
  readonly base: BaseBackupInfo;
  /** The WAL files recovery may replay: the chain from the base backup's first segment to its end. */
  readonly files: readonly ArchivedSegment[];
}

/**
 * The plan for recovering to `at`: the newest base backup that became consistent by then and whose WAL
 * reaches it, on `timeline` (default: the newest timeline whose window holds the time). Undefined when no
 * window holds it.
 */
export function planRecovery(
  bases: readonly BaseBackupInfo[],
  archive: WalArchive,
  at: number,
  timeline?: number,
): RecoveryPlan | undefined {
  const size = bases[0]?.segmentSize;
  if (size === undefined) return undefined;
  const timelines = timeline === undefined ? knownTimelines(archive, size).reverse() : [timeline];
  for (const tl of timelines) {
    const path = pathOf(archive, tl, size);
    const candidates = bases.filter((b) => b.consistentAt <= at).sort((a, b) => b.consistentAt - a.consistentAt);
    for (const base of candidates) {
      const got = reach(base, path, archive);
      if (got?.until === undefined || got.until < at) continue;
      // Which file holds the time is not known from receive times (a receiver catching up writes old WAL
      // late): the plan is the whole chain, and recovery stops at the time wherever it lies.
      return { timeline: tl, base, files: got.files };
    }
  }
  return undefined;
}

/**
 * WAL retention: the whole and partial segments no kept base backup needs (those before the first segment of
 * the oldest one). Nothing is removed while no base backup is kept; history files are always kept.
 */
export function walToRemove(kept: readonly BaseBackupInfo[], archive: WalArchive): string[] {
  if (kept.length === 0) return [];
  const size = kept[0]?.segmentSize as number;
  const first = Math.min(...kept.map((base) => segmentOf(base.startLsn, size)));
  const remove: string[] = [];
  for (const [name, file] of [...archive.segments, ...archive.partials]) {
    const parsed = parseSegmentName(name, size);
    if (parsed !== undefined && parsed.segment < first) remove.push(file.partial ? `${name}.partial` : name);
  }
  return remove.sort();
}
