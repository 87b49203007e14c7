// Typed errors: every failure carries a stable code, an exit code and a hint for the operator.

/** Exit codes of the `lifeboat` command (documented in the README). */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Every error code, with the exit code of a command that fails with it and whether trying again later can
 * help. A retryable code is a transient condition (the network, a busy server, a timeout); the others need an
 * operator (configuration, permissions, a missing database, damaged data). One error may say otherwise for
 * itself (`retryable` option): a storage error is transient when the network failed, not when access is denied.
 */
export const ERROR_CODES = {
  USAGE: { exitCode: 2, retryable: false },
  CONFIG: { exitCode: 2, retryable: false },
  CONFIG_INVALID: { exitCode: 2, retryable: false },
  AUTH: { exitCode: 1, retryable: false },
  DECRYPT_KEY: { exitCode: 1, retryable: false },
  NOT_FOUND: { exitCode: 1, retryable: false },
  INTEGRITY: { exitCode: 1, retryable: false },
  SOURCE: { exitCode: 1, retryable: false },
  DBMS: { exitCode: 1, retryable: false },
  DOCKER: { exitCode: 1, retryable: false },
  TOOL_MISSING: { exitCode: 1, retryable: false },
  TOOL_VERSION: { exitCode: 1, retryable: false },
  TOOL_FAILED: { exitCode: 1, retryable: true },
  DUMP_EMPTY: { exitCode: 1, retryable: false },
  DUMP_INCOMPLETE: { exitCode: 1, retryable: true },
  DUMP_MISMATCH: { exitCode: 1, retryable: false },
  TEMP_FOLDER: { exitCode: 1, retryable: false },
  NO_ROOM: { exitCode: 1, retryable: false },
  STORAGE: { exitCode: 1, retryable: true },
  STORAGE_READ: { exitCode: 1, retryable: true },
  UNREACHABLE: { exitCode: 1, retryable: true },
  TIMEOUT: { exitCode: 1, retryable: true },
  LOCKED: { exitCode: 1, retryable: true },
  IN_USE: { exitCode: 1, retryable: true },
  TARGET_BUSY: { exitCode: 1, retryable: false },
  LEASE_LOST: { exitCode: 1, retryable: true },
  INTERRUPTED: { exitCode: 1, retryable: false },
  SHUTDOWN: { exitCode: 1, retryable: false },
  DESTINATION: { exitCode: 1, retryable: false },
  DESTINATION_IN_USE: { exitCode: 1, retryable: true },
  DESTINATION_NOT_EMPTY: { exitCode: 1, retryable: false },
  DESTINATION_OWNER: { exitCode: 1, retryable: false },
  DRILL_DESTINATION: { exitCode: 1, retryable: false },
  DRILL_RECORD: { exitCode: 1, retryable: true },
  RESTORE_INPUT: { exitCode: 1, retryable: true },
  RESTORE_FAILED: { exitCode: 1, retryable: false },
  NOT_RECOVERABLE: { exitCode: 1, retryable: false },
  WAL_SHIP: { exitCode: 1, retryable: true },
  PRUNE_FAILED: { exitCode: 1, retryable: true },
  COPY_FAILED: { exitCode: 1, retryable: true },
  BACKUP_FAILED: { exitCode: 1, retryable: true },
  NOT_STARTED: { exitCode: 1, retryable: false },
  OUTPUT: { exitCode: 1, retryable: false },
  LISTEN: { exitCode: 1, retryable: false },
} as const satisfies Record<string, { exitCode: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface LifeboatErrorOptions {
  hint?: string;
  cause?: unknown;
  exitCode?: number;
  /** Whether trying again can help, when it differs from what the code says. */
  retryable?: boolean;
}

/** Base error: `message` reads `<module>: <verb> <object>: <cause>`; `hint` says what to try. */
export class LifeboatError extends Error {
  override readonly name: string = 'LifeboatError';
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: LifeboatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? ERROR_CODES[code].exitCode;
    this.hint = options.hint;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
  }
}

/** Network failures of the operating system: the next attempt may well succeed. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether trying again can help: a LifeboatError says so itself (one that wraps another follows its cause);
 * a network failure, an HTTP 5xx or 429, or a timeout can; an error of unknown kind is given the benefit of
 * the doubt (the daemon's retries are few and bounded).
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof LifeboatError) {
    if (error.code === 'BACKUP_FAILED' && error.cause !== undefined) return isRetryable(error.cause);
    return error.retryable;
  }
  const e = error as
    | { code?: string; name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } }
    | undefined;
  if (e?.code !== undefined && TRANSIENT_ERRNO.has(e.code)) return true;
  if (e?.$retryable !== undefined || e?.name === 'TimeoutError') return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return true;
}

/** The configuration file or a command-line argument is wrong (exit code 2). */
export class ConfigError extends LifeboatError {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(issues: readonly string[], hint?: string) {
    super('CONFIG_INVALID', issues.join('\n'), { hint });
    this.issues = issues;
  }
}

/** A command-line argument is wrong (exit code 2). */
export class UsageError extends LifeboatError {
  override readonly name = 'UsageError';
  constructor(message: string, hint?: string) {
    super('USAGE', message, { hint });
  }
}

/** Stored bytes do not match what the manifest promises. */
export class IntegrityError extends LifeboatError {
  override readonly name = 'IntegrityError';
  constructor(message: string, hint?: string) {
    super('INTEGRITY', message, { hint });
  }
}

/** Text of an unknown thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * An AbortError: what Node gives a stream that was stopped from outside (a consumer that quit reading, an
 * abort signal). It is a consequence, never the cause to report when another failure is known.
 */
export function isAbortError(error: unknown): boolean {
  const e = error as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}
