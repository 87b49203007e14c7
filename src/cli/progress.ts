// A progress line (bytes, rate) on a terminal for long manual work; silent when stderr is not a TTY.
import cliProgress from 'cli-progress';
import { formatBytes } from '../format.js';

export interface Progress {
  update(bytes: number): void;
  /** A sentence for the person watching (what the work waits for); the log has it in any case. */
  note(message: string): void;
  stop(): void;
}

const silent: Progress = { update: () => undefined, note: () => undefined, stop: () => undefined };

export function startProgress(label: string, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return silent;
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} {bytes} at {rate}`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(0, 0, { bytes: formatBytes(0), rate: '0 B/s' });
  return {
    update(bytes) {
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      bar.update(0, { bytes: formatBytes(bytes), rate: `${formatBytes(bytes / seconds)}/s` });
    },
    note(message) {
      process.stderr.write(`\n${message}\n`);
    },
    stop() {
      bar.stop();
    },
  };
}
