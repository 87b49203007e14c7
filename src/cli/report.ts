// `lifeboat report [TARGET...] [--since 30d] [--format md|html|json] [--out FILE] [--bundle FILE]`.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { now as wallNow } from '../clock.js';
import { DURATION, parseDuration } from '../config/duration.js';
import { LifeboatError, UsageError } from '../errors.js';
import { writeBundle } from '../report/bundle.js';
import { renderHtml } from '../report/render-html.js';
import { renderMarkdown } from '../report/render-markdown.js';
import { buildReport, type Report } from '../report/report.js';
import { type CommandContext, selectTargets } from './context.js';

export interface ReportFlags {
  since?: string;
  format?: string;
  out?: string;
  bundle?: string;
}

const FORMATS = ['md', 'html', 'json'] as const;
type Format = (typeof FORMATS)[number];

export function render(report: Report, format: Format): string {
  if (format === 'html') return renderHtml(report);
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  return renderMarkdown(report);
}

/** Writes report.md, report.html and report.json into `dir`; returns their paths. */
export async function writeReports(dir: string, report: Report): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const format of FORMATS) {
    const path = join(dir, `report.${format}`);
    await writeFile(path, render(report, format));
    paths.push(path);
  }
  return paths;
}

export async function reportCommand(ctx: CommandContext, names: string[], flags: ReportFlags): Promise<number> {
  const since = flags.since ?? '30d';
  if (!DURATION.test(since)) throw new UsageError(`--since: "${since}" is not a duration`, 'use e.g. 30d, 12h, 90d');
  const format = (flags.format ?? 'md') as Format;
  if (!FORMATS.includes(format)) {
    throw new UsageError(`--format: "${flags.format}" is not one of ${FORMATS.join(', ')}`);
  }
  const now = wallNow();
  const targets = selectTargets(ctx.config, names);
  const report = await buildReport(ctx.storage, targets, new Date(now.getTime() - parseDuration(since)), now);
  if (flags.bundle !== undefined) {
    const entries = await writeBundle(flags.bundle, report, ctx.storage);
    process.stderr.write(`wrote ${flags.bundle} (${entries.length} files, with SHA256SUMS)\n`);
  }
  if (flags.out !== undefined) {
    const out = flags.out;
    await writeFile(out, render(report, format)).catch((error: NodeJS.ErrnoException) => {
      throw new LifeboatError('OUTPUT', `report: write ${out}: ${error.code ?? error.message}`, {
        cause: error,
        hint: 'give --out a path in an existing, writable folder',
      });
    });
    process.stderr.write(`wrote ${flags.out}\n`);
  } else if (flags.bundle === undefined) {
    process.stdout.write(render(report, format));
  }
  const failing = report.targets.some((t) => Object.values(t.verdicts).includes('fail'));
  return failing ? 1 : 0;
}
