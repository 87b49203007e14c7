// The report as one self-contained HTML file: inline CSS and inline SVG charts, no scripts, no network, so it
// opens offline and can be handed to an auditor as is.
import { formatBytes, formatDuration } from '../format.js';
import { describeFailure } from '../verify/drill-record.js';
import { protectionText } from './render-markdown.js';
import type { Report, TargetReport, Verdict } from './report.js';

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly bad?: boolean;
}

interface ChartOptions {
  readonly id: string;
  readonly title: string;
  readonly bars: readonly Bar[];
  readonly format: (value: number) => string;
  /** A dashed line (an objective) the bars are judged against. */
  readonly threshold?: { readonly value: number; readonly label: string };
}

const W = 640;
const H = 220;
const PAD = { left: 70, right: 16, top: 28, bottom: 36 };

/** A bar chart as inline SVG; every bar has a <title> tooltip. */
export function barChart(options: ChartOptions): string {
  const { bars, threshold } = options;
  const max = Math.max(1e-9, ...bars.map((b) => b.value), threshold?.value ?? 0) * 1.1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const step = plotW / Math.max(1, bars.length);
  const barW = Math.max(2, Math.min(40, step * 0.7));
  const parts: string[] = [];
  parts.push(`<text class="title" x="${PAD.left}" y="18">${esc(options.title)}</text>`);
  for (const tick of [0, 0.5, 1]) {
    const v = (max / 1.1) * tick;
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`,
      `<text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(options.format(v))}</text>`,
    );
  }
  bars.forEach((bar, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    const top = y(bar.value);
    const height = Math.max(1, PAD.top + plotH - top);
    parts.push(
      `<rect class="bar${bar.bad ? ' bad' : ''}" x="${x.toFixed(1)}" y="${(PAD.top + plotH - height).toFixed(1)}" width="${barW.toFixed(1)}" height="${height.toFixed(1)}"><title>${esc(`${bar.label}: ${options.format(bar.value)}`)}</title></rect>`,
    );
  });
  if (bars.length > 0) {
    parts.push(
      `<text class="axis" x="${PAD.left}" y="${H - 10}">${esc(bars[0]?.label ?? '')}</text>`,
      `<text class="axis" x="${W - PAD.right}" y="${H - 10}" text-anchor="end">${esc(bars.at(-1)?.label ?? '')}</text>`,
    );
  } else {
    parts.push(`<text class="axis" x="${W / 2}" y="${H / 2}" text-anchor="middle">no data in the window</text>`);
  }
  if (threshold !== undefined) {
    const ty = y(threshold.value).toFixed(1);
    parts.push(
      `<line class="threshold" x1="${PAD.left}" x2="${W - PAD.right}" y1="${ty}" y2="${ty}"/>`,
      `<text class="threshold-label" x="${W - PAD.right}" y="${(Number(ty) - 4).toFixed(1)}" text-anchor="end">${esc(threshold.label)}</text>`,
    );
  }
  return `<svg class="chart" data-chart="${esc(options.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(options.title)}">${parts.join('')}</svg>`;
}

export function renderHtml(report: Report): string {
  const rows = report.targets
    .map(
      (t) =>
        `<tr><td><a href="#t-${esc(t.target)}">${esc(t.target)}</a></td><td>${dur(t.objectives.rpoSeconds)}</td><td>${dur(t.measured.worstRpo?.seconds)}</td><td>${badge(t.verdicts.rpo)}</td><td>${dur(t.objectives.rtoSeconds)}</td><td>${dur(t.measured.lastRtoSeconds)} / ${dur(t.measured.worstRtoSeconds)}</td><td>${badge(t.verdicts.rto)}</td><td>${t.verdicts.lastDrill === 'none' ? 'no drill' : badge(t.verdicts.lastDrill)}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lifeboat recovery report ${esc(report.generatedAt)}</title>
<style>${CSS}</style></head>
<body>
<h1>Lifeboat recovery report</h1>
<p class="meta">Generated ${esc(report.generatedAt)} by ${esc(report.tool.name)} ${esc(report.tool.version)}; window ${esc(report.since)} to ${esc(report.generatedAt)}.</p>
<table class="summary"><thead><tr><th>target</th><th>RPO objective</th><th>worst RPO in window</th><th>RPO</th><th>RTO objective</th><th>measured RTO (last / worst)</th><th>RTO</th><th>last drill</th></tr></thead>
<tbody>${rows}</tbody></table>
${report.targets.map(targetSection).join('\n')}
</body></html>
`;
}

function targetSection(t: TargetReport): string {
  const findings =
    t.findings.length === 0
      ? ''
      : `<div class="findings"><h3>Findings</h3><ul>${t.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul></div>`;
  const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
  const charts = [
    barChart({
      id: `${t.target}-sizes`,
      title: 'Stored size per backup',
      bars: t.backups.map((b) => ({ label: day(b.snapshotAt), value: b.storedBytes })),
      format: formatBytes,
    }),
    barChart({
      id: `${t.target}-durations`,
      title: 'Backup duration',
      bars: t.backups.map((b) => ({ label: day(b.snapshotAt), value: b.durationSeconds })),
      format: (v) => formatDuration(v * 1000),
    }),
    barChart({
      id: `${t.target}-rto`,
      title: 'Measured RTO per drill',
      bars: t.drills.map((d) => ({
        label: day(d.startedAt),
        value: d.timings.total,
        bad: !d.ok || (t.objectives.rtoSeconds !== undefined && d.timings.total > t.objectives.rtoSeconds),
      })),
      format: (v) => formatDuration(v * 1000),
      threshold:
        t.objectives.rtoSeconds === undefined
          ? undefined
          : { value: t.objectives.rtoSeconds, label: `RTO objective ${dur(t.objectives.rtoSeconds)}` },
    }),
    barChart({
      id: `${t.target}-gaps`,
      title: 'Gaps between backups (the last one open until now)',
      bars: t.gaps.map((g) => ({
        label: g.open ? 'now' : day(g.to),
        value: g.seconds,
        bad: t.objectives.rpoSeconds !== undefined && g.seconds > t.objectives.rpoSeconds,
      })),
      format: (v) => formatDuration(v * 1000),
      threshold:
        t.objectives.rpoSeconds === undefined
          ? undefined
          : { value: t.objectives.rpoSeconds, label: `RPO objective ${dur(t.objectives.rpoSeconds)}` },
    }),
  ];
  const drills =
    t.drills.length === 0
      ? '<p>No drill in the window.</p>'
      : `<table><thead><tr><th>started</th><th>backup</th><th>result</th><th>download</th><th>verify</th><th>restore</th><th>checks</th><th>total (RTO)</th><th>data age</th><th>failure</th></tr></thead><tbody>${t.drills
          .map(
            (d) =>
              `<tr class="${d.ok ? 'ok' : 'failed'}"><td>${esc(d.startedAt)}</td><td>${esc(d.backup?.id ?? '—')}</td><td>${badge(d.ok ? 'pass' : 'fail')}</td><td>${dur(d.timings.download)}</td><td>${dur(d.timings.verify)}</td><td>${dur(d.timings.restore)}</td><td>${dur(d.timings.checks)}</td><td>${dur(d.timings.total)}</td><td>${dur(d.dataAgeSeconds)}</td><td>${d.failure === undefined ? '' : esc(describeFailure(d.failure))}</td></tr><tr class="checks"><td colspan="10">${d.checks
                .map(
                  (c) =>
                    `<span class="check ${c.ok ? 'ok' : 'failed'}" title="${esc(c.message)}">${c.ok ? '✓' : '✗'} ${esc(c.name)}</span>`,
                )
                .join(' ')}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const backups =
    t.backups.length === 0
      ? '<p>No backup in the window.</p>'
      : `<table><thead><tr><th>data time</th><th>id</th><th>stored</th><th>raw</th><th>duration</th></tr></thead><tbody>${t.backups
          .map(
            (b) =>
              `<tr><td>${esc(b.snapshotAt)}</td><td>${esc(b.id)}</td><td>${formatBytes(b.storedBytes)}</td><td>${formatBytes(b.rawBytes)}</td><td>${dur(b.durationSeconds)}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section id="t-${esc(t.target)}"><h2>${esc(t.target)} <small>${esc(t.driver)}</small></h2>
<p>RPO ${badge(t.verdicts.rpo)} RTO ${badge(t.verdicts.rto)} · current RPO (age of the newest backup) ${dur(t.measured.currentRpoSeconds)} · drills ${t.measured.drills}, failed ${t.measured.drillsFailed} · newest backup ${esc(protectionText(t))}</p>
${findings}
<div class="charts">${charts.join('')}</div>
<h3>Drills</h3>${drills}
<h3>Backups</h3>${backups}
</section>`;
}

function badge(verdict: Verdict): string {
  const text = verdict === 'none' ? 'no objective' : verdict;
  return `<span class="badge ${verdict}">${text}</span>`;
}

function dur(seconds: number | undefined): string {
  return seconds === undefined ? '—' : formatDuration(seconds * 1000);
}

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f24;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#57606a}small{color:#57606a;font-weight:normal}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.failed td{background:#fff5f5}tr.checks td{border-bottom:2px solid #d0d7de;color:#57606a;font-size:12px}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600}
.badge.pass{background:#dafbe1;color:#116329}.badge.fail{background:#ffebe9;color:#a40e26}.badge.none{background:#eaeef2;color:#57606a}
.check.failed{color:#a40e26;font-weight:600}.check.ok{color:#116329}
.findings{border-left:4px solid #cf222e;background:#fff5f5;padding:.2rem 1rem;margin:1rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #d0d7de;border-radius:6px}
svg .title{font-size:13px;font-weight:600;fill:#1b1f24}svg .axis{font-size:10px;fill:#57606a}
svg .grid{stroke:#eaeef2}svg .bar{fill:#0969da}svg .bar.bad{fill:#cf222e}
svg .threshold{stroke:#bf8700;stroke-width:2;stroke-dasharray:6 4}svg .threshold-label{font-size:11px;fill:#9a6700}
section{margin-top:2.5rem}
`;
