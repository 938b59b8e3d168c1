// Audit events: what happened, to which service, for which client. Never a secret:
// ids and provider names only.
import type { BrokerErrorCode } from '../errors.js';

export interface ClientInfo {
  transport: 'tcp' | 'unix';
  address?: string;
  port?: number;
  /** Peer process id and user id (a SID on Windows) where the OS exposes them. */
  pid?: number;
  uid?: number | string;
  /** The login name of uid. */
  user?: string;
}

/** A client process as an approval prompt and its audit records name it (broker/access/process-info.ts). */
export interface ApprovalProcess {
  pid?: number;
  /** The executable's path, e.g. /usr/bin/psql. */
  exe?: string;
  /** The short process name (comm). */
  name?: string;
  cmdline?: string[];
  /** The app it runs in (a terminal, an IDE) or its session leader. */
  parentApp?: { pid: number; exe?: string; name?: string };
  /** Where the connection came from when the process is not known (a remote client). */
  address?: string;
}

/** Who answered: the UI (browser or desktop window), a desktop notification, the CLI; timeout and client-gone are the broker's. */
export type ApprovalAnsweredBy = 'ui' | 'notification' | 'cli' | 'timeout' | 'client-gone';

export type AuditEvent =
  | { type: 'connection.opened'; service: string; connectionId: string; client: ClientInfo }
  | {
      type: 'connection.authenticated';
      service: string;
      connectionId: string;
      target: string;
      tls: boolean;
      authMethod: string;
      /** From accept to logged in at the target (credentials, dial, TLS, login), ms. */
      authMs?: number;
    }
  | { type: 'connection.failed'; service: string; connectionId: string; code: BrokerErrorCode; reason: string }
  /** Connections from one source that never logged in, past the few recorded in full per interval (audit flood guard). */
  | { type: 'connection.failed.repeated'; service: string; client: ClientInfo; count: number; codes: Record<string, number>; reason: string; since: string }
  | {
      type: 'connection.closed';
      service: string;
      connectionId: string;
      bytesFromClient: number;
      bytesToClient: number;
      durationMs: number;
    }
  | {
      type: 'credential.fetched';
      service: string;
      connectionId?: string;
      provider: string;
      id: string;
      cached: boolean;
      expiresAt?: string;
    }
  | { type: 'credential.failed'; service: string; connectionId?: string; provider: string; id: string; reason: string }
  | { type: 'credential.rotated'; service: string; provider: string; id: string }
  | { type: 'credential.expiring'; service: string; provider: string; id: string; expiresAt: string }
  | { type: 'identity.login'; identity: string; flow: string; expiresAt?: string }
  | { type: 'identity.refreshed'; identity: string; expiresAt?: string }
  | { type: 'identity.failed'; identity: string; step: string; reason: string }
  | { type: 'identity.logout'; identity: string; revoked: boolean }
  | { type: 'identity.exchanged'; identity: string; provider: string; expiresAt?: string }
  | { type: 'ssh-agent.signed'; service: string; connectionId: string; key: string; client: ClientInfo }
  | { type: 'ssh-agent.refused'; service: string; connectionId: string; request: string }
  | { type: 'cancel.forwarded'; service: string; connectionId: string }
  /** A program must wait for the user's approval (approval: ask, or the broker is locked); key: ssh-agent's fingerprint and name. */
  | { type: 'approval.requested'; service: string; approvalId: string; connectionId: string; process: ApprovalProcess; key?: string; locked: boolean }
  /** The prompt's outcome: the answer and who gave it (timeout: nobody; withdrawn: the program went away first). */
  | {
      type: 'approval.answered';
      service: string;
      approvalId: string;
      answer: 'allow-once' | 'allow-process' | 'allow-executable' | 'deny' | 'timeout' | 'withdrawn';
      forMs?: number;
      by: ApprovalAnsweredBy;
      process: ApprovalProcess;
      key?: string;
      connections: number;
    }
  /** A connection let through by an earlier answer (allow-process or allow-executable). */
  | { type: 'approval.reused'; service: string; connectionId: string; grant: 'process' | 'executable'; process: { pid?: number; exe?: string }; key?: string }
  /** Lock: every approval revoked, every new connection asks until unlock. */
  | { type: 'access.locked'; by: string; grantsRevoked: number; sessionsClosed: number }
  | { type: 'access.unlocked'; by: string }
  /** A client's AUTH / HELLO AUTH handled by the broker (Redis): answered as the broker's user, or refused. */
  | { type: 'command.intercepted'; service: string; connectionId: string; command: string; action: 'answered' | 'refused' | 'invalid'; requestedUser?: string }
  | {
      /** One HTTP request through an http connector: no header values, no query string. */
      type: 'http.request';
      service: string;
      connectionId: string;
      method: string;
      host: string;
      path: string;
      status: number;
      bytesIn: number;
      bytesOut: number;
      durationMs: number;
      /** ok, or the catalog code of what went wrong (target_rejected_credentials for an upstream 401/403). */
      outcome: 'ok' | BrokerErrorCode;
    }
  /** `test NAME` / the Test button: a login to the target without a client. */
  | { type: 'target.tested'; service: string; connectionId: string; target: string; authMethod: string; latencyMs: number }
  | { type: 'target.test.failed'; service: string; connectionId: string; code: BrokerErrorCode; reason: string }
  | { type: 'service.started'; service: string; address: string }
  | { type: 'service.stopped'; service: string }
  | { type: 'service.failed'; service: string; reason: string }
  /** The broker-wide connection limit: reached (once per episode), cleared with how many clients were refused meanwhile. */
  | { type: 'connection.limit'; state: 'reached' | 'cleared'; limit: number; refused: number }
  /** Rotation dropped a file whose newest record was younger than the retention floor. */
  | { type: 'audit.rotated'; file: string; newestRecordAgeMs: number; retainMs: number; bytes: number }
  | { type: 'config.loaded'; source: string; services: number }
  | { type: 'config.rejected'; source: string; reason: string }
  /** Records the log file lost (disk full, unwritable, not keeping up), written once writing works again. */
  | { type: 'audit.dropped'; count: number; reason: string };

export type AuditRecord = AuditEvent & { time: string };

export interface AuditSink {
  record(event: AuditEvent): void;
}
