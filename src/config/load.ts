// Loads the YAML configuration: ${VAR} interpolation, secret files, schema validation with path-named errors.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { redactUrlPasswords } from '../redact.js';
import { readEncryptionFiles } from './encryption.js';
import {
  configSchema,
  DRIVER_NAMES,
  type LifeboatConfig,
  SECRET_KEYS,
  STORAGE_TYPES,
  type StorageConfig,
  type WebhookConfig,
} from './schema.js';

/** Where the config file is: --config, else LIFEBOAT_CONFIG, else ./lifeboat.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.LIFEBOAT_CONFIG ?? 'lifeboat.yaml');
}

/** Reads, interpolates, validates and freezes the configuration at `path`. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LifeboatConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [`config: read ${path}: ${code === 'ENOENT' ? 'no such file' : String(error)}`],
      'pass --config PATH, set LIFEBOAT_CONFIG, or create ./lifeboat.yaml (see config/lifeboat.example.yaml)',
    );
  }
  return parseConfig(text, { env, baseDir: dirname(path), source: path });
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
  /** Relative file paths in the config (secret files, SQLite paths, local storage) resolve against it. */
  baseDir?: string;
  source?: string;
}

/** Parses configuration text; throws ConfigError listing every problem with its path. */
export function parseConfig(text: string, options: ParseOptions = {}): LifeboatConfig {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const source = options.source ?? 'config';
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `${source}: YAML: ${e.message.split('\n')[0]}`));
  }
  let parsed: unknown;
  try {
    // An alias bomb (a few lines that expand to billions of nodes) is refused by the alias limit.
    parsed = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError([`${source}: YAML: ${(error as Error).message}`]);
  }
  const issues: string[] = [];
  const raw = interpolate(parsed ?? {}, [], env, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => formatIssue(issue, raw)));
  const config = result.data;
  readSecretFiles(config, baseDir, issues);
  readEncryptionFiles(config, baseDir, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  resolvePaths(config, baseDir);
  checkPaths(config, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze(config);
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(value: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, issues: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      issues.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, [...path, index], env, issues));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, [...path, key], env, issues)]),
    );
  }
  return value;
}

function readSecretFiles(config: LifeboatConfig, baseDir: string, issues: string[]): void {
  const read = (file: string, at: string): string | undefined => {
    let value: string;
    try {
      value = readFileSync(resolve(baseDir, file), 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      issues.push(`${at}: read secret file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      return undefined;
    }
    // A secret file left empty (an unfilled Kubernetes Secret, a `touch`ed placeholder) is a mistake, not a
    // password: refused here rather than as a failed login at the first backup.
    if (value.trim() === '') issues.push(`${at}: secret file ${file} is empty`);
    return value;
  };
  for (const [storage, at] of allStorages(config)) {
    if (storage.type !== 's3') continue;
    if (storage.secretAccessKeyFile !== undefined) {
      storage.secretAccessKey = read(storage.secretAccessKeyFile, `${at}.secretAccessKeyFile`);
    }
    const pruner = storage.pruneCredentials;
    if (pruner?.secretAccessKeyFile !== undefined) {
      pruner.secretAccessKey = read(pruner.secretAccessKeyFile, `${at}.pruneCredentials.secretAccessKeyFile`);
    }
  }
  const readHooks = (hooks: WebhookConfig[] | undefined, at: string) => {
    hooks?.forEach((hook, index) => {
      if (hook.urlFile !== undefined) hook.url = read(hook.urlFile, `${at}.webhooks[${index}].urlFile`);
    });
  };
  readHooks(config.defaults.webhooks, 'defaults');
  const auth = config.metrics.auth;
  if (auth?.bearerTokenFile !== undefined)
    auth.bearerToken = read(auth.bearerTokenFile, 'metrics.auth.bearerTokenFile');
  if (auth?.passwordFile !== undefined) auth.password = read(auth.passwordFile, 'metrics.auth.passwordFile');
  config.targets.forEach((target, index) => {
    if ((target.driver === 'postgres' || target.driver === 'neo4j') && target.passwordFile !== undefined) {
      target.password = read(target.passwordFile, `targets[${index}].passwordFile`);
    }
    readHooks(target.webhooks, `targets[${index}]`);
  });
}

/** Kernel file systems: a folder there holds no backups, and Node's recursive mkdir loops for ever on /proc. */
const KERNEL_FOLDERS = ['/proc', '/sys', '/dev'];

/** The main storage and every named store, with where each stands in the config. */
function allStorages(config: LifeboatConfig): [StorageConfig, string][] {
  return [
    [config.storage, 'storage'],
    ...Object.entries(config.stores).map(([name, store]): [StorageConfig, string] => [store, `stores.${name}`]),
  ];
}

function checkPaths(config: LifeboatConfig, issues: string[]): void {
  for (const [storage, at] of allStorages(config)) {
    if (storage.type !== 'local') continue;
    const path = storage.path;
    const kernel = KERNEL_FOLDERS.find((folder) => path === folder || path.startsWith(`${folder}/`));
    if (kernel !== undefined) {
      issues.push(`${at}.path: ${path} is inside ${kernel}, a kernel file system that cannot hold backups`);
    }
  }
}

function resolvePaths(config: LifeboatConfig, baseDir: string): void {
  if (config.metrics.tls !== undefined) {
    config.metrics.tls.certFile = resolve(baseDir, config.metrics.tls.certFile);
    config.metrics.tls.keyFile = resolve(baseDir, config.metrics.tls.keyFile);
  }
  for (const [storage] of allStorages(config)) {
    if (storage.type === 'local') storage.path = resolve(baseDir, storage.path);
    if (storage.type === 's3' && storage.caFile !== undefined) storage.caFile = resolve(baseDir, storage.caFile);
  }
  for (const target of config.targets) {
    if (target.driver === 'sqlite') {
      target.path = resolve(baseDir, target.path);
      if (target.drill?.to !== undefined) target.drill.to = resolve(baseDir, target.drill.to);
    }
    if (target.driver === 'postgres' && target.method === 'physical') {
      if (target.wal.spool !== undefined) target.wal.spool = resolve(baseDir, target.wal.spool);
      if (target.drill?.to !== undefined) target.drill.to = resolve(baseDir, target.drill.to);
    }
    if (target.driver === 'neo4j') {
      if (target.exec.home !== undefined) target.exec.home = resolve(baseDir, target.exec.home);
      if (target.exec.conf !== undefined) target.exec.conf = resolve(baseDir, target.exec.conf);
      if (target.drill?.to !== undefined) target.drill.to = resolve(baseDir, target.drill.to);
    }
  }
}

function formatIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = formatPath(issue.path);
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator !== undefined) {
    const key = String(issue.discriminator);
    const at = issue.path.at(-1) === key ? issue.path : [...issue.path, key];
    const value = valueAt(raw, at);
    const options = key === 'driver' ? DRIVER_NAMES : STORAGE_TYPES;
    const what = value === undefined ? `missing "${key}"` : `unknown ${key} ${JSON.stringify(value)}`;
    return `${formatPath(at)}: ${what} (expected one of: ${options.join(', ')})`;
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`).join('\n');
  }
  if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) {
    return `${path}: required`;
  }
  return `${path}: ${issue.message}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** `targets[1].driver` style. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    text += typeof key === 'number' ? `[${key}]` : `${text === '' ? '' : '.'}${String(key)}`;
  }
  return text === '' ? '(root)' : text;
}

/** A copy of the config with every secret replaced by "<redacted>", for showing. */
export function redactConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactConfig);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        SECRET_KEYS.has(key) && item !== undefined
          ? '<redacted>'
          : key === 'webhooks' && Array.isArray(item)
            ? item.map((hook) => ({ ...(redactConfig(hook) as object), url: redactWebhookUrl(hook.url) }))
            : redactConfig(item),
      ]),
    );
  }
  if (typeof value === 'string') return redactUrlPasswords(value);
  return value;
}

/** Webhook URLs often carry their token in the path: only the origin is shown. */
export function redactWebhookUrl(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return `${new URL(value).origin}/<redacted>`;
  } catch {
    return '<redacted>';
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
