// The HTTP listener: /metrics (Prometheus text format), /healthz (alive), /readyz (config loaded, storage answers).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { LifeboatError } from '../errors.js';

export interface Readiness {
  readonly ready: boolean;
  readonly detail: string;
}

export interface HealthServer {
  /** "http://host:port" actually bound (port 0 in the config picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  /** "host:port". */
  readonly listen: string;
  readonly registry: Registry;
  /** False while the daemon is stopping or has failed. */
  readonly alive: () => boolean;
  readonly readiness: () => Promise<Readiness>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { host, port } = splitListen(options.listen);
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply(405, 'text/plain', 'method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, options.registry.contentType, text),
        (error: unknown) => reply(500, 'text/plain', `metrics: ${String(error)}\n`),
      );
    } else if (path === '/healthz') {
      const alive = options.alive();
      reply(alive ? 200 : 503, 'text/plain', alive ? 'ok\n' : 'stopping\n');
    } else if (path === '/readyz') {
      options.readiness().then(
        (r) => reply(r.ready ? 200 : 503, 'text/plain', `${r.detail}\n`),
        (error: unknown) => reply(503, 'text/plain', `${String(error)}\n`),
      );
    } else {
      reply(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await listen(server, host, port, options.listen);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(at + 1)) };
}

function listen(server: Server, host: string, port: number, shown: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new LifeboatError('LISTEN', `metrics: listen on ${shown}: ${error.code ?? error.message}`, {
          cause: error,
          hint:
            error.code === 'EADDRINUSE'
              ? 'another process uses that port: change metrics.listen (port 0 picks a free one)'
              : 'check metrics.listen',
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
