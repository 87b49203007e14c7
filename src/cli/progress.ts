// A progress line (bytes, rate) on a terminal for long manual work; silent when stderr is not a TTY.
import cliProgress from 'cli-progress';

export interface Progress {
  update(bytes: number): void;
  stop(): void;
}

const silent: Progress = { update: () => undefined, stop: () => undefined };

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
    stop() {
      bar.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean).join(' ');
}
