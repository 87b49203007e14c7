// A Docker Engine API stand-in on a unix socket, scripted from the Engine API reference (v1.41+): it answers
// the calls the Neo4j `docker` access makes (inspect, stop, start, create, attach, wait, remove), serves a
// neo4j-admin run's stdout and stderr as a multiplexed stream, takes stdin over a hijacked attach, and
// records every call. There is no Docker engine in CI; this is what the docker access is tested against.

import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EngineCall {
  readonly method: string;
  /** Without the /v1.xx prefix and the query string. */
  readonly path: string;
  readonly query: string;
  readonly body: unknown;
}

export interface OneOffResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface FakeEngine {
  readonly socket: string;
  readonly calls: EngineCall[];
  /** Bytes received on the stdin of each one-off container, by id. */
  readonly stdin: Map<string, Buffer>;
  close(): Promise<void>;
}

function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

export async function startFakeEngine(options: {
  container: string;
  inspect: Record<string, unknown>;
  /** What a one-off container running `cmd` prints and returns. */
  run: (cmd: string[]) => OneOffResult;
}): Promise<FakeEngine> {
  const socket = join(await mkdtemp(join(tmpdir(), 'lifeboat-docker-')), 'docker.sock');
  const calls: EngineCall[] = [];
  const stdin = new Map<string, Buffer>();
  const oneOffs = new Map<
    string,
    {
      cmd: string[];
      attach?: ServerResponse | Socket;
      stdinDone: Promise<void>;
      markStdinDone: () => void;
      done?: Promise<void>;
    }
  >();
  let next = 1;

  const parse = (req: IncomingMessage) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    return { path: url.pathname.replace(/^\/v\d+\.\d+/, ''), query: url.search };
  };

  const outputOf = (id: string) => {
    const one = oneOffs.get(id);
    if (one === undefined) throw new Error(`no container ${id}`);
    return { one, result: options.run(one.cmd) };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { path, query } = parse(req);
      const text = Buffer.concat(chunks).toString();
      const body = text === '' ? undefined : JSON.parse(text);
      calls.push({ method: req.method ?? '', path, query, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const noContent = () => {
        res.writeHead(204);
        res.end();
      };
      const c = `/containers/${options.container}`;
      if (req.method === 'GET' && path === `${c}/json`) return json(200, options.inspect);
      if (req.method === 'POST' && (path === `${c}/stop` || path === `${c}/start`)) return noContent();
      if (req.method === 'POST' && path === '/containers/create') {
        const id = `oneoff-${next++}`;
        let markStdinDone: () => void = () => undefined;
        const stdinDone = new Promise<void>((resolve) => {
          markStdinDone = resolve;
        });
        oneOffs.set(id, { cmd: (body as { Cmd: string[] }).Cmd, stdinDone, markStdinDone });
        return json(201, { Id: id, Warnings: [] });
      }
      const match = /^\/containers\/(oneoff-\d+)\/(attach|start|wait|kill)$/.exec(path);
      if (match !== null) {
        const [, id, action] = match as unknown as [string, string, string];
        const { one, result } = outputOf(id);
        if (action === 'attach') {
          res.writeHead(200, { 'content-type': 'application/vnd.docker.multiplexed-stream' });
          res.flushHeaders();
          one.attach = res;
          one.markStdinDone();
          return;
        }
        if (action === 'start') {
          noContent();
          // The program runs: once its stdin is read (if attached), it prints and exits.
          one.done = one.stdinDone.then(() => {
            const out = one.attach;
            if (out === undefined) return;
            for (let at = 0; at < result.stdout.length; at += 64 * 1024) {
              out.write(frame(1, result.stdout.subarray(at, at + 64 * 1024)));
            }
            if (result.stderr !== '') out.write(frame(2, Buffer.from(result.stderr)));
            out.end();
          });
          return;
        }
        if (action === 'wait') {
          void (one.done ?? Promise.resolve()).then(() => json(200, { StatusCode: result.exitCode }));
          return;
        }
        return noContent();
      }
      if (req.method === 'DELETE' && /^\/containers\/oneoff-\d+$/.test(path)) return noContent();
      json(404, { message: `fake engine: no route ${req.method} ${path}` });
    });
  });

  // A hijacked attach (stdin): the connection becomes a raw stream in both directions.
  server.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => {
    const { path, query } = parse(req);
    calls.push({ method: req.method ?? '', path, query, body: undefined });
    const id = /^\/containers\/(oneoff-\d+)\/attach$/.exec(path)?.[1];
    const one = id === undefined ? undefined : oneOffs.get(id);
    if (id === undefined || one === undefined) {
      sock.destroy();
      return;
    }
    sock.write(
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    );
    const received: Buffer[] = [head];
    one.attach = sock;
    sock.on('data', (c: Buffer) => received.push(c));
    sock.on('end', () => {
      // The request's own body (the attach options, Content-Length bytes) comes first, as for any request;
      // what follows is the program's stdin.
      const bodyLength = Number(req.headers['content-length'] ?? 0);
      stdin.set(id, Buffer.concat(received).subarray(bodyLength));
      one.markStdinDone();
    });
  });

  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    calls,
    stdin,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
