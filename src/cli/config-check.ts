// `lifeboat config check`: validates the configuration and prints it with every secret redacted.
import { stringify } from 'yaml';
import { loadConfig, redactConfig, resolveConfigPath } from '../config/load.js';

export function configCheckCommand(options: { config?: string; json?: boolean }): number {
  const path = resolveConfigPath(options.config);
  const config = loadConfig(path);
  const shown = redactConfig(config);
  process.stderr.write(`config ${path}: ok\n`);
  process.stdout.write(options.json ? `${JSON.stringify(shown, null, 2)}\n` : stringify(shown));
  return 0;
}
