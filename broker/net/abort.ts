// What to tell the client when a handshake step is aborted: the service stopping, or
// the handshake running out of time (AbortSignal.timeout's TimeoutError).
import { BrokerError } from '../errors.js';

export function abortError(signal: AbortSignal, service: string): BrokerError {
  const reason: unknown = signal.reason;
  if (reason instanceof BrokerError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError')
    return new BrokerError('timeout', `the target of service '${service}' did not complete the login in time`);
  return new BrokerError('service_stopping', `service '${service}' is stopping`);
}
