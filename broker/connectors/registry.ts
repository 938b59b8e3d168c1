// Every connector the broker knows, by the name used in `connector:`.
import type { ConnectorSpec } from '../config/types.js';
import { pgConnector } from './pg/connector.js';
import type { Connector } from './types.js';

export function builtinConnectors(): Map<string, Connector> {
  return new Map([[pgConnector.spec.name, pgConnector]]);
}

export function connectorSpecs(connectors: Map<string, Connector>): ConnectorSpec[] {
  return [...connectors.values()].map((c) => c.spec);
}
