// The structured logger: JSON lines on stderr (pino); secrets are never passed to it.
import pino from 'pino';

export type Logger = pino.Logger;

/** Level from LIFEBOAT_LOG_LEVEL (default "info"); "silent" turns logs off. */
export function createLogger(level = process.env.LIFEBOAT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { app: 'lifeboat' },
      redact: { paths: ['*.password', '*.secretAccessKey', '*.PGPASSWORD'], censor: '<redacted>' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
