// The tool's own name and version, recorded in every manifest.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      return JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')).version as string;
    } catch {
      // try the next layout (source or dist)
    }
  }
  return '0.0.0';
}

export const TOOL = Object.freeze({ name: 'lifeboat', version: readVersion() });
