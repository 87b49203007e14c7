// The report as Markdown: tables that render on any code forge, and a Mermaid chart of backup sizes.
import { formatBytes, formatDuration } from '../format.js';
import { describeFailure } from '../verify/drill-record.js';
import type { Report, TargetReport, Verdict } from './report.js';

const VERDICT: Record<Verdict, string> = { pass: '✅ pass', fail: '❌ fail', none: '— (no objective)' };

export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  out.push('# Lifeboat recovery report', '');
  out.push(
    `Generated ${report.generatedAt} by ${report.tool.name} ${report.tool.version}; window ${report.since} to ${report.generatedAt}.`,
    '',
  );
  out.push(
    '| target | RPO objective | worst RPO in window | RPO | RTO objective | measured RTO (last / worst) | RTO | last drill |',
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of report.targets) {
    out.push(
      `| ${t.target} | ${dur(t.objectives.rpoSeconds)} | ${dur(t.measured.worstRpo?.seconds)} | ${VERDICT[t.verdicts.rpo]} | ${dur(t.objectives.rtoSeconds)} | ${dur(t.measured.lastRtoSeconds)} / ${dur(t.measured.worstRtoSeconds)} | ${VERDICT[t.verdicts.rto]} | ${t.verdicts.lastDrill === 'none' ? 'no drill' : VERDICT[t.verdicts.lastDrill]} |`,
    );
  }
  for (const t of report.targets) out.push('', ...targetSection(t));
  return `${out.join('\n')}\n`;
}

/** "encrypted (age), locked until …" or what is missing, for the newest backup. */
export function protectionText(t: TargetReport): string {
  if (t.protection.encrypted === undefined) return 'none yet';
  const encrypted = t.protection.encrypted ? 'encrypted (age)' : 'not encrypted';
  const locked = t.protection.lockedUntil === undefined ? 'not locked' : `locked until ${t.protection.lockedUntil}`;
  return `${encrypted}, ${locked}`;
}

function targetSection(t: TargetReport): string[] {
  const out = [`## ${t.target} (${t.driver})`, ''];
  out.push(
    `Current RPO (age of the newest backup): ${dur(t.measured.currentRpoSeconds)}. Drills in the window: ${t.measured.drills}, failed: ${t.measured.drillsFailed}.`,
    '',
    `Newest backup: ${protectionText(t)}.`,
    '',
  );
  if (t.findings.length > 0) {
    out.push('**Findings**', '', ...t.findings.map((f) => `- ${cell(f)}`), '');
  }
  out.push('### Drills', '');
  if (t.drills.length === 0) out.push('No drill in the window.');
  else {
    out.push('| started | backup | result | download | verify | restore | checks | total (RTO) | data age | failure |');
    out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const d of t.drills) {
      out.push(
        `| ${d.startedAt} | ${d.backup?.id ?? '—'} | ${d.ok ? '✅ pass' : '❌ fail'} | ${dur(d.timings.download)} | ${dur(d.timings.verify)} | ${dur(d.timings.restore)} | ${dur(d.timings.checks)} | ${dur(d.timings.total)} | ${dur(d.dataAgeSeconds)} | ${d.failure === undefined ? '' : cell(describeFailure(d.failure))} |`,
      );
    }
    const last = t.drills.at(-1);
    if (last !== undefined && last.checks.length > 0) {
      out.push(
        '',
        `Checks of the last drill (${last.startedAt}):`,
        '',
        '| check | kind | result | detail |',
        '| --- | --- | --- | --- |',
      );
      for (const c of last.checks)
        out.push(`| ${cell(c.name)} | ${c.kind} | ${c.ok ? '✅' : '❌'} | ${cell(c.message)} |`);
    }
  }
  out.push('', '### Backups', '');
  if (t.backups.length === 0) out.push('No backup in the window.');
  else {
    const gapAfter = new Map(t.gaps.filter((g) => !g.open).map((g) => [g.to, g.seconds]));
    out.push('| data time | id | stored | raw | duration | gap before |', '| --- | --- | --- | --- | --- | --- |');
    for (const b of t.backups) {
      out.push(
        `| ${b.snapshotAt} | ${b.id} | ${formatBytes(b.storedBytes)} | ${formatBytes(b.rawBytes)} | ${dur(b.durationSeconds)} | ${dur(gapAfter.get(b.snapshotAt))} |`,
      );
    }
    const open = t.gaps.find((g) => g.open);
    if (open !== undefined) out.push('', `Since the newest backup: ${dur(open.seconds)}.`);
    if (t.backups.length >= 2) {
      out.push(
        '',
        '```mermaid',
        'xychart-beta',
        `  title "${t.target}: stored size per backup (MB)"`,
        `  x-axis [${t.backups.map((_, i) => i + 1).join(', ')}]`,
        '  y-axis "MB"',
        `  bar [${t.backups.map((b) => (b.storedBytes / 1e6).toFixed(3)).join(', ')}]`,
        '```',
      );
    }
  }
  return out;
}

function dur(seconds: number | undefined): string {
  return seconds === undefined ? '—' : formatDuration(seconds * 1000);
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}
