// serve's --health-port: metrics fed by the audit log from the first record on (so the
// counts match the log), served with /live and /ready once the config is applied.
import type { AuditLog } from '../audit/audit-log.js';
import type { Broker } from '../broker.js';
import type { IdentitySessions } from '../api.js';
import { createBrokerMetrics } from '../metrics/broker-metrics.js';
import { startHealthServer, type HealthServer } from './health-server.js';

export interface ServeHealth {
  start(): Promise<HealthServer>;
}

/** Checks the flags (throws with a message for the user) and starts counting. */
export function createServeHealth(portText: string, host: string, deps: { broker: Broker; audit: AuditLog; sessions: IdentitySessions }): ServeHealth {
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new Error(`--health-port: '${portText}' is not a port number (0-65535)`);
  if (!/^[\d.]+$|^[\da-f:]+$/i.test(host) && host !== 'localhost') throw new Error(`--health-host: '${host}' is not an IP address`);
  const services = () => deps.broker.status();
  const sessions = () => deps.sessions.list();
  const metrics = createBrokerMetrics({ services, sessions });
  const unsubscribe = deps.audit.subscribe((r) => metrics.observe(r));
  return {
    async start() {
      const server = await startHealthServer({ port: Number(portText), host, services, sessions, metrics });
      return {
        url: server.url,
        async close() {
          unsubscribe();
          await server.close();
        },
      };
    },
  };
}
