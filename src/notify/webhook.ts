// Webhooks: a JSON POST per run result, with a Slack-compatible `text` field. Timeouts and retries; a failing
// webhook is logged and counted, and never fails the backup. URLs are never logged (they often hold tokens).
import { parseDuration } from '../config/duration.js';
import type { WebhookConfig } from '../config/schema.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';

export interface RunNotice {
  readonly event: 'backup' | 'drill';
  readonly target: string;
  readonly id: string | undefined;
  readonly result: 'success' | 'failure';
  readonly error: string | undefined;
  readonly durationSeconds: number;
  readonly storedBytes: number | undefined;
  readonly finishedAt: string;
}

export interface NotifyOptions {
  readonly logger: Logger;
  readonly onFailure?: () => void;
  /** Base delay of the retry backoff (default 1 s). */
  readonly retryDelayMs?: number;
}

/** Sends `notice` to every hook subscribed to its result; resolves when all are done, never rejects. */
export async function notifyWebhooks(
  hooks: readonly WebhookConfig[],
  notice: RunNotice,
  options: NotifyOptions,
): Promise<void> {
  const body = JSON.stringify({ ...notice, text: slackText(notice) });
  await Promise.all(
    hooks
      .filter((hook) => hook.on.includes(notice.result) && hook.url !== undefined)
      .map((hook, index) => deliver(hook, index, body, notice.target, options)),
  );
}

async function deliver(
  hook: WebhookConfig,
  index: number,
  body: string,
  target: string,
  options: NotifyOptions,
): Promise<void> {
  const url = hook.url as string;
  const host = new URL(url).host;
  const timeoutMs = parseDuration(hook.timeout);
  let lastError = '';
  for (let attempt = 0; attempt <= hook.retries; attempt += 1) {
    if (attempt > 0) await sleep((options.retryDelayMs ?? 1000) * 2 ** (attempt - 1));
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'lifeboat' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return;
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError =
        error instanceof Error && error.name === 'TimeoutError' ? `timed out after ${hook.timeout}` : causeOf(error);
    }
  }
  options.onFailure?.();
  options.logger.warn(
    { event: 'webhook.failed', target, webhook: index, host, attempts: hook.retries + 1, error: lastError },
    'webhook delivery failed (the run result is unaffected)',
  );
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause === undefined ? describeError(error) : `${describeError(error)}: ${describeError(cause)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One line for chat tools: "lifeboat: backup of app-db FAILED after 3.2 s: ...". */
export function slackText(notice: RunNotice): string {
  const took = `${notice.durationSeconds.toFixed(1)} s`;
  const what = notice.event === 'drill' ? 'restore drill' : 'backup';
  if (notice.result === 'success') {
    const size = notice.storedBytes === undefined ? '' : `, ${(notice.storedBytes / 1e6).toFixed(1)} MB stored`;
    return `lifeboat: ${what} of ${notice.target} succeeded in ${took} (${notice.id}${size})`;
  }
  return `lifeboat: ${what} of ${notice.target} FAILED after ${took}: ${notice.error ?? 'unknown error'}`;
}
