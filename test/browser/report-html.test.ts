// The HTML report in a real headless browser (Debian's Chromium, driven by playwright-core): it loads offline
// without errors and every chart renders bars. A screenshot is kept in test-results/ as an artifact of the run.
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runCli, writeConfig } from '../harness/cli.js';

const CHROMIUM = process.env.LIFEBOAT_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-results');

describe('HTML report in Chromium', () => {
  it('loads without errors, renders every chart, and is kept as a screenshot', async () => {
    const { dir, path } = await writeConfig({
      storage: { type: 'local', path: './store' },
      targets: [
        {
          name: 'shop',
          driver: 'sqlite',
          path: './shop.db',
          drill: {
            to: './scratch',
            objectives: { rpo: '1h', rto: '1m' },
            checks: [{ name: 'items', sql: 'SELECT count(*) FROM items', expect: '>= 3' }],
          },
        },
      ],
    });
    const db = new Database(join(dir, 'shop.db'));
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)');
    for (let i = 0; i < 4; i += 1) {
      db.prepare('INSERT INTO items (name) VALUES (?)').run(`item ${i}`);
      expect((await runCli(['--config', path, 'backup'])).code).toBe(0);
      expect((await runCli(['--config', path, 'drill'])).code).toBe(i >= 2 ? 0 : 1); // fewer than 3 items: fails
    }
    db.close();
    const html = join(dir, 'report.html');
    await runCli(['--config', path, 'report', '--format', 'html', '--out', html]);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => requests.push(request.url()));
      const response = await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
      expect(response?.ok()).toBe(true);
      expect(errors).toEqual([]);
      // Self-contained: the report loads nothing but itself.
      expect(requests).toEqual([pathToFileURL(html).href]);
      expect(await page.title()).toMatch(/^Lifeboat recovery report/);

      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const bars = [...svg.querySelectorAll('rect.bar')].map((r) => r.getBoundingClientRect());
          return {
            chart: svg.getAttribute('data-chart'),
            width: box.width,
            height: box.height,
            bars: bars.length,
            drawn: bars.filter((b) => b.width > 0 && b.height > 0).length,
            failed: svg.querySelectorAll('rect.bar.bad').length,
            threshold: svg.querySelectorAll('line.threshold').length,
          };
        }),
      );
      expect(charts.map((c) => c.chart)).toEqual(['shop-sizes', 'shop-durations', 'shop-rto', 'shop-gaps']);
      for (const chart of charts) {
        expect(chart.width, String(chart.chart)).toBeGreaterThan(200);
        expect(chart.height, String(chart.chart)).toBeGreaterThan(60);
        expect(chart.bars, String(chart.chart)).toBeGreaterThan(0);
        expect(chart.drawn, String(chart.chart)).toBe(chart.bars);
      }
      const byName = Object.fromEntries(charts.map((c) => [c.chart, c]));
      expect(byName['shop-sizes']?.bars).toBe(4);
      expect(byName['shop-rto']).toMatchObject({ bars: 4, failed: 2, threshold: 1 });
      expect(byName['shop-gaps']?.threshold).toBe(1);
      const summary = await page.textContent('table.summary');
      expect(summary).toContain('shop');
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = await page.screenshot({ fullPage: true });
      await writeFile(join(ARTIFACTS, 'report-html.png'), shot);
      expect(shot.length).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
