// The capability policy: which flags the broker offers the client and sends the
// backend, so that both sides of the pipe agree on every data-phase wire-format flag.
// (The codec only encodes and decodes the flags.)
import { CAP, MARIADB_CAP, type Greeting } from './codec.js';

/**
 * Flags the broker passes through untouched: they only change the data phase's wire
 * format or server behaviour, so they must be identical on both sides of the pipe.
 * Never passed: COMPRESS/ZSTD (the broker does not speak compression), SSL (per side),
 * MULTI_FACTOR_AUTH, SSL_VERIFY_SERVER_CERT and REMEMBER_OPTIONS (client-local).
 */
export const PASSTHROUGH_CAPS =
  CAP.FOUND_ROWS |
  CAP.LONG_FLAG |
  CAP.NO_SCHEMA |
  CAP.ODBC |
  CAP.LOCAL_FILES |
  CAP.IGNORE_SPACE |
  CAP.INTERACTIVE |
  CAP.IGNORE_SIGPIPE |
  CAP.TRANSACTIONS |
  CAP.MULTI_STATEMENTS |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.SESSION_TRACK |
  CAP.DEPRECATE_EOF |
  CAP.OPTIONAL_RESULTSET_METADATA |
  CAP.QUERY_ATTRIBUTES;

export const PASSTHROUGH_MARIADB_CAPS =
  MARIADB_CAP.PROGRESS | MARIADB_CAP.STMT_BULK_OPERATIONS | MARIADB_CAP.EXTENDED_METADATA | MARIADB_CAP.CACHE_METADATA | MARIADB_CAP.BULK_UNIT_RESULTS;

/** Connection-phase flags each side negotiates with the broker on its own. */
const BROKER_CAPS = CAP.LONG_PASSWORD | CAP.CONNECT_WITH_DB | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA;

/** What the broker advertises to the client: the backend's data-phase flags it can pass through, plus its own connection-phase flags. */
export function clientFacingCapabilities(backend: Greeting): { capabilities: number; mariadbCapabilities: number } {
  const mariadb = !(backend.capabilities & CAP.LONG_PASSWORD);
  let capabilities = ((backend.capabilities & PASSTHROUGH_CAPS) | BROKER_CAPS | (backend.capabilities & CAP.CONNECT_ATTRS)) >>> 0;
  if (mariadb) capabilities &= ~CAP.LONG_PASSWORD; // keep MariaDB's "extended capabilities present" signal
  return { capabilities: capabilities >>> 0, mariadbCapabilities: mariadb ? backend.mariadbCapabilities & PASSTHROUGH_MARIADB_CAPS : 0 };
}

/**
 * What the broker sends the backend: exactly the client's chosen data-phase flags (a
 * subset of what was offered, so the backend supports them), plus the broker's own
 * connection-phase flags. Both sides of the pipe then agree on every wire-format flag.
 */
export function backendCapabilities(
  backend: Greeting,
  client: { capabilities: number; mariadbCapabilities: number },
  offered: { capabilities: number; mariadbCapabilities: number },
): { capabilities: number; mariadbCapabilities: number } {
  const data = client.capabilities & offered.capabilities & PASSTHROUGH_CAPS;
  const own = CAP.LONG_PASSWORD | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.CONNECT_WITH_DB | (backend.capabilities & (CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA | CAP.CONNECT_ATTRS));
  const mariadbCapabilities = client.mariadbCapabilities & offered.mariadbCapabilities & PASSTHROUGH_MARIADB_CAPS;
  return { capabilities: (data | own) >>> 0, mariadbCapabilities: mariadbCapabilities >>> 0 };
}

/** Flags that differ between what the client and the backend were told (must be 0). */
export function dataPhaseMismatch(clientChosen: number, sentToBackend: number): number {
  return ((clientChosen ^ sentToBackend) & PASSTHROUGH_CAPS) >>> 0;
}
