// The HTTP listener: /metrics (Prometheus text format), /healthz (alive), /readyz (config loaded, storage answers).
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
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
  /** Credentials /metrics requires (the secrets already read from their files); none: open. */
  readonly auth?: { bearerToken?: string; username?: string; password?: string };
  /** Serve HTTPS with this certificate and key. */
  readonly tls?: { certFile: string; keyFile: string };
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { host, port } = splitListen(options.listen);
  const handler: RequestListener = (request, response) => {
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
      if (!authorized(request, options.auth)) {
        response.writeHead(401, {
          'content-type': 'text/plain',
          'www-authenticate': options.auth?.bearerToken === undefined ? 'Basic realm="lifeboat"' : 'Bearer',
        });
        response.end('unauthorized\n');
        return;
      }
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
  };
  const server = options.tls === undefined ? createServer(handler) : createTlsServer(readTls(options.tls), handler);
  await listen(server, host, port, options.listen);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, field: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new LifeboatError(
        'CONFIG_INVALID',
        `metrics.tls.${field}: read ${file}: ${(error as NodeJS.ErrnoException).code}`,
        {
          exitCode: 2,
          cause: error,
        },
      );
    }
  };
  return { cert: read(tls.certFile, 'certFile'), key: read(tls.keyFile, 'keyFile') };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether the request carries the configured bearer token or basic credentials (compared in constant time). */
function authorized(request: IncomingMessage, auth: HealthServerOptions['auth']): boolean {
  if (auth === undefined) return true;
  const header = request.headers.authorization ?? '';
  if (auth.bearerToken !== undefined) {
    return header.startsWith('Bearer ') && sameSecret(header.slice(7).trim(), auth.bearerToken);
  }
  if (auth.username === undefined || auth.password === undefined || !header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString();
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both compared, always: the answer takes as long whichever part is wrong.
  const userOk = sameSecret(decoded.slice(0, colon), auth.username);
  const passwordOk = sameSecret(decoded.slice(colon + 1), auth.password);
  return userOk && passwordOk;
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
