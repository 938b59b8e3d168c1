// Ready-to-paste connection strings for a listening target. The client never needs a
// password: the broker logs in for it.
import type { TargetInfo } from '../../broker/api.js';

export interface ConnectionString {
  label: string;
  value: string;
}

/** host and port (or socket path) of a listener address such as tcp://127.0.0.1:5433. */
export function splitAddress(address: string): { host: string; port?: number; socket?: string } | undefined {
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (tcp) return { host: tcp[1]!, port: Number(tcp[2]) };
  const unix = /^unix:\/\/(\/.*)$/.exec(address);
  if (unix) return { host: 'localhost', socket: unix[1]! };
  return undefined;
}

export function connectionStrings(t: TargetInfo): ConnectionString[] {
  if (t.status.state !== 'listening') return [];
  const a = splitAddress(t.status.address);
  if (!a) return [];
  if (a.socket) {
    const pgSocket = /^(.*)\/\.s\.PGSQL\.(\d+)$/.exec(a.socket);
    if (t.connector === 'pg' && pgSocket) {
      return [
        { label: 'psql', value: `psql -h ${pgSocket[1]} -p ${pgSocket[2]}` },
        { label: 'socket', value: a.socket },
      ];
    }
    if (t.connector === 'ssh-agent') return [{ label: 'SSH_AUTH_SOCK', value: `export SSH_AUTH_SOCK=${a.socket}` }];
    if (t.connector === 'mysql') return [{ label: 'mariadb', value: `mariadb -S ${a.socket}` }, { label: 'socket', value: a.socket }];
    if (t.connector === 'redis') return [{ label: 'redis-cli', value: `redis-cli -s ${a.socket}` }, { label: 'socket', value: a.socket }];
    return [{ label: 'socket', value: a.socket }];
  }
  const hostPort = `${a.host}:${a.port}`;
  switch (t.connector) {
    case 'pg':
      return [
        { label: 'psql URI', value: `postgresql://${hostPort}/` },
        { label: 'JDBC URL', value: `jdbc:postgresql://${hostPort}/` },
        { label: 'host:port', value: hostPort },
      ];
    case 'mysql':
      return [
        { label: 'mysql URI', value: `mysql://${hostPort}/` },
        { label: 'JDBC URL', value: `jdbc:mysql://${hostPort}/` },
        { label: 'host:port', value: hostPort },
      ];
    case 'redis':
      return [
        { label: 'redis-cli', value: `redis-cli -p ${a.port}` },
        { label: 'redis URL', value: `redis://${hostPort}/0` },
        { label: 'host:port', value: hostPort },
      ];
    case 'ssh':
      return [
        { label: 'ssh', value: `ssh -p ${a.port} ${a.host}` },
        { label: 'host:port', value: hostPort },
      ];
    case 'http':
    case 'basic_auth':
    case 'generic_http':
    case 'aws':
      return httpStrings(t, `http://${hostPort}`);
    default:
      return [{ label: 'host:port', value: hostPort }];
  }
}

/** Reverse proxy: call the broker's address instead of the API; forward proxy: set it as http_proxy. */
function httpStrings(t: TargetInfo, local: string): ConnectionString[] {
  if (t.upstream === undefined) {
    return [
      { label: 'http_proxy', value: `export http_proxy=${local}` },
      { label: 'curl', value: `curl -x ${local} http://HOST/PATH` },
    ];
  }
  const strings: ConnectionString[] = [
    { label: 'curl', value: `curl ${local}/` },
    { label: 'base URL', value: `${local}/` },
  ];
  if (t.connector === 'aws') strings.unshift({ label: 'aws', value: `aws --no-sign-request --endpoint-url ${local}` });
  return strings;
}
