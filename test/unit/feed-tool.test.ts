// feedTool, the one way a restore tool is fed its backup, with real processes (coreutils) as the tools: the
// input that fails stops the tool, a tool that leaves early is not a success, the tool's own error wins,
// and a stdin that keeps bytes after its tool has gone (a container's) does not hang the restore.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type FeedOptions, fedProcess, feedTool } from '../../src/drivers/feed-tool.js';
import { runTool } from '../../src/drivers/run-tool.js';
import { LifeboatError } from '../../src/errors.js';

const OPTIONS: FeedOptions = { driver: 'test', name: 'the tool', stopped: 'nothing kept' };

function tool(command: string, args: string[]) {
  const process = runTool('test', command, args, { stdin: 'pipe', stdout: 'ignore' });
  return { process, fed: fedProcess(process) };
}

/** 1 MiB pieces of random bytes, `count` of them, then the end (or `failure` instead of the end). */
function input(count: number, failure?: Error): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent < count) {
        sent += 1;
        this.push(randomBytes(2 ** 20));
      } else if (failure !== undefined) this.destroy(failure);
      else this.push(null);
    },
  });
}

describe('feedTool', () => {
  it('passes every byte to a tool that reads them all, and resolves once it exits 0', async () => {
    const { fed } = tool('cat', []);
    await expect(feedTool(fed, input(8), OPTIONS)).resolves.toBeUndefined();
  });

  it('stops the tool when the input fails, and says the input was the cause', async () => {
    // A tool that would go on (for a minute) without its input: only being stopped ends it.
    const { process, fed } = tool('sleep', ['60']);
    const failing = feedTool(fed, input(0, new Error('the download broke')), OPTIONS);
    await expect(failing).rejects.toThrow('test: restore stopped, nothing kept: the download broke');
    await expect(failing).rejects.toMatchObject({ code: 'RESTORE_INPUT' });
    expect(process.child.signalCode).toBe('SIGTERM');
  });

  it('does not take a tool that exits 0 before the end of its input for a success', async () => {
    const { fed } = tool('head', ['-c', '10']);
    await expect(feedTool(fed, input(8), OPTIONS)).rejects.toThrow(
      'test: the tool exited before it had read the whole backup; what it restored is not proven against the manifest',
    );
  });

  it("reports the tool's own failure, through the caller's mapping, not the broken stdin it leaves", async () => {
    const { fed } = tool('cat', ['/no/such/backup']);
    const mapped = feedTool(fed, input(8), {
      ...OPTIONS,
      toolError: (error) => new LifeboatError('SOURCE', `mapped: ${(error as Error).message}`),
    });
    await expect(mapped).rejects.toThrow(/^mapped: .*\/no\/such\/backup: No such file or directory/);
  });

  it('ends when the tool has gone but its stdin would keep the bytes (a container attach stream)', async () => {
    // Nothing reads this stdin once its buffer is full: without letting go of it the write would never end.
    const stdin = new PassThrough();
    const gone = Promise.withResolvers<void>();
    const fed = { stdin, exited: gone.promise, kill: () => undefined };
    const feeding = feedTool(fed, input(8), OPTIONS);
    await new Promise((resolve) => setImmediate(resolve));
    gone.resolve();
    await expect(feeding).rejects.toThrow('the tool exited before it had read the whole backup');
  });
});
