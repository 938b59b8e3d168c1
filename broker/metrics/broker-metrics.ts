// The broker's Prometheus metrics (prom-client registry). Counters are driven by the
// audit records as they are written (after the flood guard), so every count agrees with
// the audit log; gauges (open connections, services up, identity sessions) are read
// from the broker and the sessions at each scrape. Labels carry service, provider and
// identity names and catalog codes: never a credential id, value or token.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IdentitySessionInfo, SessionState } from '../api.js';
import type { AuditRecord } from '../audit/types.js';
import type { ServiceStatus } from '../broker.js';

export interface MetricsSources {
  services(): ServiceStatus[];
  sessions(): IdentitySessionInfo[];
  now?(): number;
}

export interface BrokerMetrics {
  /** Count one audit record (subscribe this to the audit log). */
  observe(record: AuditRecord): void;
  /** The exposition in Prometheus text format. */
  render(): Promise<{ contentType: string; body: string }>;
}

const SESSION_STATES: SessionState[] = ['active', 'refreshing', 'refresh-failed', 'login-needed', 'logged-out'];

export function createBrokerMetrics(sources: MetricsSources): BrokerMetrics {
  const now = sources.now ?? Date.now;
  const registry = new Registry();
  const registers = [registry];
  // Process metrics (CPU, memory, open file descriptors, event loop lag) under their standard names.
  collectDefaultMetrics({ register: registry });

  const connections = new Counter({
    name: 'secretless_connections_total',
    help: 'Client connections by service and outcome: ok (logged in to the target) or the error catalog code.',
    labelNames: ['service', 'outcome'] as const,
    registers,
  });
  const authDuration = new Histogram({
    name: 'secretless_auth_duration_seconds',
    help: 'Time from accepting a client to being logged in at the target (credentials, dial, TLS, login).',
    labelNames: ['service'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const bytes = new Counter({
    name: 'secretless_connection_bytes_total',
    help: 'Bytes of closed client connections, by service and direction (from_client, to_client).',
    labelNames: ['service', 'direction'] as const,
    registers,
  });
  const httpRequests = new Counter({
    name: 'secretless_http_requests_total',
    help: 'Requests through the http connectors by service and outcome (ok or the error catalog code).',
    labelNames: ['service', 'outcome'] as const,
    registers,
  });
  const fetches = new Counter({
    name: 'secretless_credential_fetches_total',
    help: 'Credential lookups by provider and outcome: ok (fetched), cached (served from the cache) or failed.',
    labelNames: ['provider', 'outcome'] as const,
    registers,
  });
  const identityFailures = new Counter({
    name: 'secretless_identity_failures_total',
    help: 'Failed identity steps (login, refresh, token, exchanges) by identity and step.',
    labelNames: ['identity', 'step'] as const,
    registers,
  });
  const configLoads = new Counter({
    name: 'secretless_config_loads_total',
    help: 'Config loads (the first and every reload) by outcome: loaded, or rejected (the running config stays).',
    labelNames: ['outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'secretless_open_connections',
    help: 'Client connections open now, by service.',
    labelNames: ['service'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources.services()) this.set({ service: s.name }, s.connections);
    },
  });
  new Gauge({
    name: 'secretless_service_up',
    help: '1 when the service is listening, 0 when it failed or is stopped.',
    labelNames: ['service'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources.services()) this.set({ service: s.name }, s.status.state === 'listening' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'secretless_identity_session_state',
    help: 'Identity sessions: 1 for the current state, 0 for the others.',
    labelNames: ['identity', 'type', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources.sessions()) {
        for (const state of SESSION_STATES) this.set({ identity: s.name, type: s.type ?? 'oidc', state }, s.state === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'secretless_identity_time_to_expiry_seconds',
    help: "Seconds until the identity's current token expires (negative once expired); absent without a token.",
    labelNames: ['identity'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of sources.sessions()) if (s.expiresAt) this.set({ identity: s.name }, Math.round((Date.parse(s.expiresAt) - now()) / 1000));
    },
  });

  return {
    observe(r) {
      switch (r.type) {
        case 'connection.authenticated':
          connections.inc({ service: r.service, outcome: 'ok' });
          if (r.authMs !== undefined) authDuration.observe({ service: r.service }, r.authMs / 1000);
          return;
        case 'connection.failed':
          connections.inc({ service: r.service, outcome: r.code });
          return;
        case 'connection.failed.repeated':
          for (const [code, n] of Object.entries(r.codes)) connections.inc({ service: r.service, outcome: code }, n);
          return;
        case 'connection.closed':
          bytes.inc({ service: r.service, direction: 'from_client' }, r.bytesFromClient);
          bytes.inc({ service: r.service, direction: 'to_client' }, r.bytesToClient);
          return;
        case 'http.request':
          httpRequests.inc({ service: r.service, outcome: r.outcome });
          return;
        case 'credential.fetched':
          fetches.inc({ provider: r.provider, outcome: r.cached ? 'cached' : 'ok' });
          return;
        case 'credential.failed':
          fetches.inc({ provider: r.provider, outcome: 'failed' });
          return;
        case 'identity.failed':
          identityFailures.inc({ identity: r.identity, step: r.step });
          return;
        case 'config.loaded':
          configLoads.inc({ outcome: 'loaded' });
          return;
        case 'config.rejected':
          configLoads.inc({ outcome: 'rejected' });
          return;
      }
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
