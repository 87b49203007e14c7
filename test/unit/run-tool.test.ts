// runTool with real processes (sh, coreutils, util-linux): a tool's stdout buffer under stdbuf, its priority
// lowered through stdbuf's exec, and its own name in its errors.
import { describe, expect, it } from 'vitest';
import { runTool, type ToolOptions, toolOutput } from '../../src/drivers/run-tool.js';

/** What a shell tool prints, run by runTool with `options`. */
async function output(script: string, options: ToolOptions): Promise<string> {
  return (await toolOutput('test', 'sh', ['-c', script], options)).trim();
}

describe('runTool', () => {
  it('stdoutBuffer runs the tool under stdbuf with a 1 MiB stdout buffer; without it, as it is', async () => {
    expect(await output('printf "%s" "$_STDBUF_O"', { stdoutBuffer: true })).toBe(String(1024 * 1024));
    expect(await output('printf "%s" "$_STDBUF_O"', {})).toBe('');
  });

  it('a tool under stdbuf gets its lowered priority (stdbuf execs it: the same process)', async () => {
    // The I/O class is set by ionice from outside once the tool runs: the tool waits until it sees it.
    const script = 'until ionice -p $$ | grep -q idle; do sleep 0.05; done; nice; printf "%s" "$_STDBUF_O"';
    const seen = await output(script, { stdoutBuffer: true, priority: { cpu: 7, io: 'idle' } });
    expect(seen.split('\n')).toEqual(['7', String(1024 * 1024)]);
  });

  it('a tool under stdbuf that fails is named in the error, not stdbuf', async () => {
    const tool = runTool('test', 'sh', ['-c', 'echo broken >&2; exit 3'], { stdoutBuffer: true });
    await expect(tool.exited).rejects.toMatchObject({
      code: 'TOOL_FAILED',
      message: 'test: sh failed (exit code 3): broken',
    });
  });
});
