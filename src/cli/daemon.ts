// `lifeboat daemon`: runs the scheduled targets until SIGTERM/SIGINT, then stops gracefully.
import { Daemon } from '../core/daemon.js';
import type { CommandContext } from './context.js';

export async function daemonCommand(ctx: CommandContext): Promise<number> {
  const daemon = new Daemon({ config: ctx.config, storage: ctx.storage, logger: ctx.logger });
  await daemon.start();
  if (daemon.url !== undefined) {
    process.stderr.write(`lifeboat daemon: metrics at ${daemon.url}/metrics, health at ${daemon.url}/healthz\n`);
  }
  const reason = await new Promise<string>((resolve) => {
    if (ctx.signal.aborted) resolve(String(ctx.signal.reason));
    ctx.signal.addEventListener('abort', () => resolve((ctx.signal.reason as Error).message), { once: true });
  });
  const result = await daemon.stop(reason);
  return result.clean ? 0 : 1;
}
