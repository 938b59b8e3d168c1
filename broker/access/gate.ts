// Who may use a service: the checks every client connection passes after it is accepted
// and before any provider or target is touched (connection.ts runs them). Each check
// either resolves with what it learnt about the client (added to the audit record) or
// rejects with a BrokerError the client is told in its own protocol. Checks run in
// order: same-user.ts first, then the consent prompts.
import type { Socket } from 'node:net';
import type { ClientInfo } from '../audit/types.js';
import type { ServiceConfig } from '../config/types.js';

export interface AccessRequest {
  socket: Socket;
  /** What is known of the client so far (transport, address; uid and pid where looked up). */
  client: ClientInfo;
  service: ServiceConfig;
  connectionId: string;
  /** Aborted when the client leaves or the service stops. */
  signal: AbortSignal;
}

/** Resolves with the client info, enriched; rejects with a BrokerError to refuse the client. */
export type AccessCheck = (request: AccessRequest) => Promise<ClientInfo>;

/** The checks as one, run in order, each seeing what the ones before it learnt. */
export function accessChecks(checks: readonly AccessCheck[]): AccessCheck {
  return async (request) => {
    let client = request.client;
    for (const check of checks) client = await check({ ...request, client });
    return client;
  };
}
