// The published JSON Schema is generated from the loader's schema and must not drift from it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { parseConfig } from '../../src/config/load.js';

const published = JSON.parse(readFileSync(new URL('../../config/lifeboat.schema.json', import.meta.url), 'utf8'));

describe('config/lifeboat.schema.json', () => {
  it('equals the schema generated from src/config/schema.ts (run `npm run schema` after changing it)', () => {
    expect(published).toEqual(configJsonSchema());
  });

  it('documents every key used in config/lifeboat.example.yaml, and the example is valid', () => {
    const text = readFileSync(new URL('../../config/lifeboat.example.yaml', import.meta.url), 'utf8');
    const env = {
      S3_ACCESS_KEY: 'AKIAEXAMPLE',
      S3_SECRET_KEY: 'example-secret',
      PG_PASSWORD: 'example',
      ALERT_WEBHOOK_URL: 'https://hooks.example.com/x',
      NEO4J_PASSWORD: 'example',
    };
    expect(() => parseConfig(text, { env })).not.toThrow();
    const example = parse(text);
    const storageKeys = new Set(
      published.properties.storage.oneOf.flatMap((o: { properties: object }) => Object.keys(o.properties)),
    );
    for (const key of Object.keys(example.storage)) expect(storageKeys).toContain(key);
    // Every top-level section and every inheritable setting appears in the example.
    expect(Object.keys(example).sort()).toEqual(Object.keys(published.properties).sort());
    // A key may be shown commented out (an optional one whose real value would need a secret file).
    const commented = (section: string) => {
      const block = text.split(new RegExp(`^${section}:`, 'm'))[1]?.split(/^\S/m)[0] ?? '';
      return [...block.matchAll(/^ {2}# ?([A-Za-z]+):/gm)].map((m) => m[1] as string);
    };
    for (const section of ['defaults', 'daemon', 'metrics']) {
      expect([...new Set([...Object.keys(example[section]), ...commented(section)])].sort(), section).toEqual(
        Object.keys(published.properties[section].properties).sort(),
      );
    }
  });
});
