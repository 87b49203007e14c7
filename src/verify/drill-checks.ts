// Pure drill logic: expectations of user checks, restored stats against the manifest, and RPO gaps.
import type { TableStats } from '../catalog/manifest.js';
import { parseDuration } from '../config/duration.js';

/** A drill's recovery objectives in seconds (undefined: none set). */
export function objectiveSeconds(objectives: { rpo?: string; rto?: string } | undefined): {
  rpoSeconds: number | undefined;
  rtoSeconds: number | undefined;
} {
  const seconds = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d) / 1000);
  return { rpoSeconds: seconds(objectives?.rpo), rtoSeconds: seconds(objectives?.rto) };
}

export type Operator = '=' | '!=' | '>' | '>=' | '<' | '<=';

export interface Expectation {
  readonly op: Operator;
  /** A number, or the row count the manifest recorded for the check's table. */
  readonly value: number | 'manifest';
}

/** Parses ">= 1000", "= 0", "= manifest" (the config schema has validated the shape). */
export function parseExpectation(text: string): Expectation {
  const match = /^\s*(==|=|!=|>=|<=|>|<)\s*(\S+)\s*$/.exec(text);
  if (match === null) throw new Error(`not an expectation: ${JSON.stringify(text)}`);
  const op = (match[1] === '==' ? '=' : match[1]) as Operator;
  const value = match[2] === 'manifest' ? 'manifest' : Number(match[2]);
  if (value !== 'manifest' && Number.isNaN(value)) throw new Error(`not a number: ${match[2]}`);
  if (value === 'manifest' && op !== '=') throw new Error('"manifest" can only be compared with "="');
  return { op, value };
}

export function compare(actual: number, op: Operator, expected: number): boolean {
  switch (op) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
  }
}

/** The table a "= manifest" check is about: its `table`, else the first "FROM <table>" of its SQL. */
export function checkTable(check: { sql?: string; table?: string }): string | undefined {
  if (check.table !== undefined) return check.table;
  const match = /\bfrom\s+((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?)/i.exec(check.sql ?? '');
  return match?.[1]?.replaceAll('"', '');
}

/** Finds a table in manifest stats by its name, accepting "orders" for "public.orders". */
export function findTable(tables: readonly TableStats[], name: string): TableStats | undefined {
  return tables.find((t) => t.name === name) ?? tables.find((t) => t.name === `public.${name}`);
}

/** Differences between the tables and row counts restored and those recorded at backup time. */
export function compareStats(recorded: readonly TableStats[], restored: readonly TableStats[]): string[] {
  const problems: string[] = [];
  const got = new Map(restored.map((t) => [t.name, t.rows]));
  for (const table of recorded) {
    const rows = got.get(table.name);
    if (rows === undefined) problems.push(`table ${table.name} missing after restore (manifest: ${table.rows} rows)`);
    else if (rows !== table.rows)
      problems.push(`table ${table.name}: ${rows} rows restored, manifest says ${table.rows}`);
  }
  const known = new Set(recorded.map((t) => t.name));
  for (const table of restored) {
    if (!known.has(table.name)) problems.push(`table ${table.name} restored but not in the manifest`);
  }
  return problems;
}

export interface Gap {
  /** Data time of the backup the gap starts at (undefined: no backup before it). */
  readonly from: string | undefined;
  /** Data time of the next backup, or the evaluation time for the open gap. */
  readonly to: string;
  readonly seconds: number;
  /** True for the gap from the newest backup up to now. */
  readonly open: boolean;
}

/**
 * Gaps between consecutive backups (by data time) that end inside [windowStart, now], including the open gap
 * from the newest backup to now. With no backup at all, the whole window is one open gap.
 */
export function backupGaps(snapshotTimes: readonly string[], windowStart: Date, now: Date): Gap[] {
  const times = [...snapshotTimes]
    .map((t) => Date.parse(t))
    .filter((t) => t <= now.getTime())
    .sort((a, b) => a - b);
  const gaps: Gap[] = [];
  for (let i = 1; i < times.length; i += 1) {
    const [a, b] = [times[i - 1] as number, times[i] as number];
    if (b < windowStart.getTime()) continue;
    gaps.push({ from: iso(a), to: iso(b), seconds: (b - a) / 1000, open: false });
  }
  const last = times.at(-1);
  gaps.push({
    from: last === undefined ? undefined : iso(last),
    to: now.toISOString(),
    seconds: (now.getTime() - (last ?? windowStart.getTime())) / 1000,
    open: true,
  });
  return gaps;
}

/** The longest gap: the worst RPO over the window. */
export function worstGap(gaps: readonly Gap[]): Gap | undefined {
  return gaps.reduce<Gap | undefined>(
    (worst, gap) => (worst === undefined || gap.seconds > worst.seconds ? gap : worst),
    undefined,
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
