// `serve --health-port N`: what a container runtime, Kubernetes or a CI step probes.
//   /live     200 while the process serves HTTP at all
//   /ready    200 when every service listens and every identity has a usable token;
//             503 otherwise, the body saying what is not ready (names and reasons, no secret)
//   /metrics  Prometheus text format (metrics/broker-metrics.ts)
// Loopback by default: the endpoints need no token, so listening wider is an explicit choice.
import { createServer, type Server } from 'node:http';
import type { IdentitySessionInfo } from '../api.js';
import type { ServiceStatus } from '../broker.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';

export interface HealthServerOptions {
  port: number;
  host: string;
  services(): ServiceStatus[];
  sessions(): IdentitySessionInfo[];
  metrics: BrokerMetrics;
  now?(): number;
}

export interface HealthServer {
  /** http://HOST:PORT */
  url: string;
  close(): Promise<void>;
}

/** What keeps the broker from being ready, one line each; empty when ready. */
export function notReady(services: ServiceStatus[], sessions: IdentitySessionInfo[], now: number): string[] {
  const problems: string[] = [];
  for (const s of services) {
    if (s.status.state === 'failed') problems.push(`service ${s.name}: failed: ${s.status.reason}`);
    else if (s.status.state !== 'listening') problems.push(`service ${s.name}: ${s.status.state}`);
  }
  for (const i of sessions) {
    // A token that is still valid serves, even while a refresh is retried.
    const usable = i.expiresAt !== undefined && Date.parse(i.expiresAt) > now && i.state !== 'logged-out' && i.state !== 'login-needed';
    if (!usable) problems.push(`identity ${i.name}: ${i.state}${i.reason ? ` (${i.reason})` : ''}`);
  }
  return problems;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const now = options.now ?? Date.now;
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const path = new URL(req.url ?? '/', 'http://health').pathname;
    if (path === '/live') return send(200, 'live\n');
    if (path === '/ready') {
      const problems = notReady(options.services(), options.sessions(), now());
      return problems.length === 0 ? send(200, 'ready\n') : send(503, `not ready\n${problems.join('\n')}\n`);
    }
    if (path === '/metrics') {
      options.metrics.render().then(
        ({ contentType, body }) => send(200, body, contentType),
        (err: Error) => send(500, `metrics failed: ${err.message}\n`),
      );
      return;
    }
    send(404, 'not found: /live, /ready, /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { port: number };
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
