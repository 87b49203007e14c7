// The evidence pack for auditors: the reports, the drill records and the manifests they cover, and a
// SHA-256 list of its own contents, as one .tar.gz or .zip (written under a temporary name, then renamed).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { TarArchive, ZipArchive } from 'archiver';
import { manifestKey } from '../catalog/manifest.js';
import { UsageError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { serializeDrill } from '../verify/drill-record.js';
import { renderHtml } from './render-html.js';
import { renderMarkdown } from './render-markdown.js';
import type { Report } from './report.js';

export const CHECKSUMS_NAME = 'SHA256SUMS';

export function bundleFormat(file: string): 'zip' | 'tar.gz' {
  if (file.endsWith('.zip')) return 'zip';
  if (file.endsWith('.tar.gz') || file.endsWith('.tgz')) return 'tar.gz';
  throw new UsageError(`--bundle: "${file}" must end in .tar.gz, .tgz or .zip`);
}

/** Writes the evidence pack; resolves to the names of its entries (SHA256SUMS last). */
export async function writeBundle(file: string, report: Report, storage: Storage): Promise<string[]> {
  const format = bundleFormat(file);
  const entries: { name: string; data: Buffer }[] = [
    { name: 'report.html', data: Buffer.from(renderHtml(report)) },
    { name: 'report.md', data: Buffer.from(renderMarkdown(report)) },
    { name: 'report.json', data: Buffer.from(`${JSON.stringify(report, null, 2)}\n`) },
  ];
  for (const target of report.targets) {
    for (const drill of target.drills) {
      entries.push({ name: `drills/${target.target}/${drill.startedAt}.json`, data: serializeDrill(drill) });
    }
    const ids = new Set([...target.backups.map((b) => b.id), ...target.drills.flatMap((d) => d.backup?.id ?? [])]);
    for (const id of [...ids].sort()) {
      const key = manifestKey(target.target, id);
      // A drilled backup pruned since has no manifest any more; its drill record still says what it was.
      if ((await storage.head(key)) === undefined) continue;
      entries.push({ name: `manifests/${target.target}/${id}.json`, data: await buffer(await storage.get(key)) });
    }
  }
  const sums = entries.map((e) => `${createHash('sha256').update(e.data).digest('hex')}  ${e.name}\n`).join('');
  entries.push({ name: CHECKSUMS_NAME, data: Buffer.from(sums) });

  const archive = format === 'zip' ? new ZipArchive({ zlib: { level: 9 } }) : new TarArchive({ gzip: true });
  const temp = `${file}.lifeboat-tmp-${randomBytes(4).toString('hex')}`;
  const date = new Date(report.generatedAt);
  try {
    const writing = pipeline(archive, createWriteStream(temp, { flags: 'wx' }));
    for (const entry of entries) archive.append(entry.data, { name: entry.name, date, mode: 0o644 });
    await archive.finalize();
    await writing;
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return entries.map((e) => e.name);
}
