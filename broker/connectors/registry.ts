// Every connector the broker knows, by the name used in `connector:`.
import type { ConnectorSpec } from '../config/types.js';
import { httpConnector } from './http/connector.js';
import { HTTP_CONNECTORS } from './http/settings.js';
import { mysqlConnector } from './mysql/connector.js';
import { pgConnector } from './pg/connector.js';
import { redisConnector } from './redis/connector.js';
import { sshConnector } from './ssh/connector.js';
import { sshAgentConnector } from './ssh-agent/connector.js';
import { sshTunnelConnector } from './ssh-tunnel/connector.js';
import type { Connector } from './types.js';

export function builtinConnectors(): Map<string, Connector> {
  return new Map<string, Connector>([
    [pgConnector.spec.name, pgConnector],
    [mysqlConnector.spec.name, mysqlConnector],
    [redisConnector.spec.name, redisConnector],
    [sshConnector.spec.name, sshConnector],
    [sshAgentConnector.spec.name, sshAgentConnector],
    [sshTunnelConnector.spec.name, sshTunnelConnector],
    ...HTTP_CONNECTORS.map((name) => [name, httpConnector(name)] as [string, Connector]),
  ]);
}

export function connectorSpecs(connectors: Map<string, Connector>): ConnectorSpec[] {
  return [...connectors.values()].map((c) => c.spec);
}
