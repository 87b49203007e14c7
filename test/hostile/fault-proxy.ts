// A TCP proxy for hostile tests: sits in front of a real server (MinIO) on a free loopback port and injects
// faults into the connections it carries: a reset after N bytes in either direction, a stall, a delay, a
// changed byte.
import { connect, createServer, type Server, type Socket } from 'node:net';

// Byte counts are totals over every connection since the fault was set, so a fault can be aimed at the
// second download of a backup (bytes = one and a half times its size) whatever sockets the client reuses.
export type Fault =
  | { readonly kind: 'none' }
  /** Resets the connection on which `bytes` in `direction` are passed (once: then no more faults). */
  | { readonly kind: 'reset'; readonly direction: 'up' | 'down'; readonly bytes: number; readonly once?: boolean }
  /**
   * Stops forwarding on the connection where `bytes` down are passed, keeping its sockets open; with
   * `persist`, every connection after it stalls too (then no more faults without it).
   */
  | { readonly kind: 'stall'; readonly bytes: number; readonly persist?: boolean }
  /** Changes the byte at offset `bytes` of everything sent up (to the server), once. */
  | { readonly kind: 'flip'; readonly bytes: number }
  /** Holds every chunk for `ms` before forwarding it. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Holds each connection's downstream to `bytesPerSecond` (one stream's speed across a WAN). */
  | { readonly kind: 'rate'; readonly bytesPerSecond: number };

export interface FaultProxy {
  /** "http://127.0.0.1:PORT", to use as the S3 endpoint. */
  readonly url: string;
  readonly port: number;
  /** The fault applied to connections opened from now on (and to open ones, for reset and stall). */
  setFault(fault: Fault): void;
  /** How many faults were injected so far. */
  injected(): number;
  /** Bytes passed down (server to client) since the fault was last set. */
  bytesDown(): number;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 forwarding to `targetHost:targetPort`. */
export async function startFaultProxy(targetHost: string, targetPort: number): Promise<FaultProxy> {
  let fault: Fault = { kind: 'none' };
  let injected = 0;
  let up = 0;
  let down = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    open.add(client);
    open.add(upstream);
    let stalled = false;
    /** When this connection may pass the next byte down (fault `rate`). */
    let nextFree = 0;
    const kill = () => {
      injected += 1;
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    };
    const forward = (from: Socket, to: Socket, direction: 'up' | 'down') => {
      from.on('data', (chunk: Buffer) => {
        if (stalled) return;
        const current = fault;
        if (direction === 'up') up += chunk.length;
        else down += chunk.length;
        const total = direction === 'up' ? up : down;
        if (current.kind === 'reset' && current.direction === direction && total >= current.bytes) {
          const keep = chunk.length - (total - current.bytes);
          if (keep > 0) to.write(chunk.subarray(0, keep));
          if (current.once === true) fault = { kind: 'none' };
          kill();
          return;
        }
        if (current.kind === 'flip' && direction === 'up' && total > current.bytes) {
          const at = chunk.length - (total - current.bytes);
          const changed = Buffer.from(chunk);
          changed[at] = (changed[at] as number) ^ 0xff;
          fault = { kind: 'none' };
          injected += 1;
          to.write(changed);
          return;
        }
        if (current.kind === 'stall' && direction === 'down' && total >= current.bytes) {
          const keep = chunk.length - (total - current.bytes);
          if (keep > 0) to.write(chunk.subarray(0, keep));
          stalled = true;
          if (current.persist !== true) fault = { kind: 'none' };
          injected += 1;
          return;
        }
        if (current.kind === 'rate' && direction === 'down') {
          const now = Date.now();
          nextFree = Math.max(now, nextFree) + (chunk.length / current.bytesPerSecond) * 1000;
          to.write(chunk);
          if (nextFree > now) {
            from.pause();
            setTimeout(() => from.resume(), nextFree - now);
          }
          return;
        }
        if (current.kind === 'delay') {
          from.pause();
          setTimeout(() => {
            if (!to.destroyed) to.write(chunk);
            from.resume();
          }, current.ms);
          return;
        }
        to.write(chunk);
      });
      from.on('end', () => {
        if (!stalled) to.end();
      });
    };
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
    const done = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    setFault: (next) => {
      fault = next;
      up = 0;
      down = 0;
    },
    injected: () => injected,
    bytesDown: () => down,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
