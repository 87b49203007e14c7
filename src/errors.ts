// Typed errors: every failure carries a stable code, an exit code and a hint for the operator.

/** Exit codes of the `lifeboat` command (documented in the README). */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

export interface LifeboatErrorOptions {
  hint?: string;
  cause?: unknown;
  exitCode?: number;
}

/** Base error: `message` reads `<module>: <verb> <object>: <cause>`; `hint` says what to try. */
export class LifeboatError extends Error {
  override readonly name: string = 'LifeboatError';
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: LifeboatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.failed;
    this.hint = options.hint;
  }
}

/** The configuration file or a command-line argument is wrong (exit code 2). */
export class ConfigError extends LifeboatError {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(issues: readonly string[], hint?: string) {
    super('CONFIG_INVALID', issues.join('\n'), { exitCode: ExitCode.usage, hint });
    this.issues = issues;
  }
}

/** A command-line argument is wrong (exit code 2). */
export class UsageError extends LifeboatError {
  override readonly name = 'UsageError';
  constructor(message: string, hint?: string) {
    super('USAGE', message, { exitCode: ExitCode.usage, hint });
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
