// PostgreSQL write-ahead log names and positions: LSNs, segment numbers, timeline history files.

/** A WAL segment file name: timeline, then the segment number as two 8-digit hex halves. */
export const SEGMENT_NAME = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
/** A timeline history file name, e.g. 00000002.history. */
export const HISTORY_NAME = /^([0-9A-F]{8})\.history$/;

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

/** A WAL position "X/Y" as a number of bytes (exact up to 2^53, i.e. 8 PiB of WAL). */
export function parseLsn(text: string): number {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (match === null) throw new Error(`not a WAL position (LSN): ${JSON.stringify(text)}`);
  return Number.parseInt(match[1] as string, 16) * 2 ** 32 + Number.parseInt(match[2] as string, 16);
}

export function formatLsn(lsn: number): string {
  const high = Math.floor(lsn / 2 ** 32);
  const low = lsn - high * 2 ** 32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

/** The number of the segment that holds the byte at `lsn`. */
export function segmentOf(lsn: number, segmentSize: number): number {
  return Math.floor(lsn / segmentSize);
}

export function segmentName(timeline: number, segment: number, segmentSize: number): string {
  const perId = 2 ** 32 / segmentSize;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segment / perId))}${hex(segment % perId)}`;
}

/** Timeline and segment number of a segment file name, or undefined for any other name. */
export function parseSegmentName(name: string, segmentSize: number): { timeline: number; segment: number } | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (match === null) return undefined;
  const perId = 2 ** 32 / segmentSize;
  const low = Number.parseInt(match[3] as string, 16);
  if (low >= perId) return undefined;
  return {
    timeline: Number.parseInt(match[1] as string, 16),
    segment: Number.parseInt(match[2] as string, 16) * perId + low,
  };
}

export function historyName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** One line of a history file: `timeline` ended at `switchLsn`, where its child began. */
export interface TimelineSwitch {
  readonly timeline: number;
  readonly switchLsn: number;
}

/** Parses a timeline history file (lines "parentTLI<TAB>switchpoint<TAB>reason"; # comments). */
export function parseHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [tli, lsn] = line.split(/\s+/);
    const timeline = Number(tli);
    if (!Number.isInteger(timeline) || timeline < 1 || lsn === undefined) {
      throw new Error(`timeline history: line ${JSON.stringify(line)} is not "timeline switchpoint reason"`);
    }
    switches.push({ timeline, switchLsn: parseLsn(lsn) });
  }
  return switches;
}

/**
 * The history of `timeline`: each timeline on its path from timeline 1, with the segment where it begins
 * (0 for the first). A segment is read from the newest timeline of the path that has begun by then, as
 * PostgreSQL's recovery does: the segment of a switch is the child timeline's.
 */
export interface TimelinePath {
  readonly timeline: number;
  readonly steps: readonly { timeline: number; beginSegment: number; beginLsn: number }[];
}

export function timelinePath(timeline: number, switches: readonly TimelineSwitch[], segmentSize: number): TimelinePath {
  const steps: { timeline: number; beginSegment: number; beginLsn: number }[] = [];
  let begin = 0;
  for (const item of switches) {
    steps.push({ timeline: item.timeline, beginSegment: segmentOf(begin, segmentSize), beginLsn: begin });
    begin = item.switchLsn;
  }
  steps.push({ timeline, beginSegment: segmentOf(begin, segmentSize), beginLsn: begin });
  return { timeline, steps };
}

/** The timeline a segment is read from on this path. */
export function timelineForSegment(path: TimelinePath, segment: number): number {
  let chosen = path.steps[0]?.timeline ?? path.timeline;
  for (const step of path.steps) if (step.beginSegment <= segment) chosen = step.timeline;
  return chosen;
}

/**
 * Whether a position on `timeline` lies on this path: the timeline is on it and the position is before the
 * point where the path left it.
 */
export function onPath(path: TimelinePath, timeline: number, lsn: number): boolean {
  const index = path.steps.findIndex((step) => step.timeline === timeline);
  if (index < 0) return false;
  const next = path.steps[index + 1];
  return next === undefined || lsn <= next.beginLsn;
}
