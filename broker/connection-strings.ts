// Ready-to-paste connection strings for a listening target, shared by the tray
// (electron/tray.ts), the renderer and the CLI: pure, no Node or DOM APIs. The client
// never needs a password (the broker logs in for it), but it does need a database and,
// for ssh, a known_hosts entry that matches the command: both come from the target.
import type { TargetInfo } from './api.js';

export interface ConnectionString {
  /** Stable id for tests and menus (`psql`, `jdbc`, `known_hosts`, …). */
  id: string;
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

/** Single-quotes a shell word when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function connectionStrings(t: TargetInfo): ConnectionString[] {
  if (t.status.state !== 'listening') return [];
  const a = splitAddress(t.status.address);
  if (!a) return [];
  const db = t.database;
  if (a.socket) return socketStrings(t, a.socket);
  const hostPort = `${a.host}:${a.port}`;
  switch (t.connector) {
    case 'pg': {
      const uri = `postgresql://${hostPort}/${db ? encodeURIComponent(db) : ''}`;
      return [
        { id: 'psql', label: 'psql', value: `psql ${shellQuote(uri)}` },
        { id: 'uri', label: 'URI', value: uri },
        { id: 'jdbc', label: 'JDBC (DBeaver, DataGrip)', value: `jdbc:postgresql://${hostPort}/${db ?? ''}` },
        { id: 'pg_service', label: 'pg_service.conf entry', value: pgService(t.name, a.host, a.port!, db) },
        { id: 'host-port', label: 'host:port', value: hostPort },
      ];
    }
    case 'mysql':
      return [
        { id: 'mariadb', label: 'mariadb', value: `mariadb -h ${a.host} -P ${a.port}${db ? ` ${shellQuote(db)}` : ''}` },
        { id: 'mysql', label: 'mysql', value: `mysql -h ${a.host} -P ${a.port}${db ? ` ${shellQuote(db)}` : ''}` },
        { id: 'uri', label: 'URI', value: `mysql://${hostPort}/${db ? encodeURIComponent(db) : ''}` },
        { id: 'jdbc', label: 'JDBC (DBeaver, DataGrip)', value: `jdbc:mariadb://${hostPort}/${db ?? ''}` },
        { id: 'jdbc-mysql', label: 'JDBC (MySQL driver)', value: `jdbc:mysql://${hostPort}/${db ?? ''}` },
        { id: 'host-port', label: 'host:port', value: hostPort },
      ];
    case 'redis':
      return [
        { id: 'redis-cli', label: 'redis-cli', value: `redis-cli -p ${a.port}` },
        { id: 'uri', label: 'redis URL', value: `redis://${hostPort}/0` },
        { id: 'host-port', label: 'host:port', value: hostPort },
      ];
    case 'ssh':
      return sshStrings(t, a.host, a.port!);
    case 'http':
    case 'basic_auth':
    case 'generic_http':
    case 'aws':
      return httpStrings(t, `http://${hostPort}`);
    default:
      return [{ id: 'host-port', label: 'host:port', value: hostPort }];
  }
}

function socketStrings(t: TargetInfo, socket: string): ConnectionString[] {
  const db = t.database;
  const pgSocket = /^(.*)\/\.s\.PGSQL\.(\d+)$/.exec(socket);
  if (t.connector === 'pg' && pgSocket) {
    return [
      { id: 'psql', label: 'psql', value: `psql -h ${shellQuote(pgSocket[1]!)} -p ${pgSocket[2]}${db ? ` -d ${shellQuote(db)}` : ''}` },
      { id: 'socket', label: 'socket', value: socket },
    ];
  }
  if (t.connector === 'ssh-agent') return [{ id: 'ssh-auth-sock', label: 'SSH_AUTH_SOCK', value: `export SSH_AUTH_SOCK=${shellQuote(socket)}` }];
  if (t.connector === 'redis') return [{ id: 'redis-cli', label: 'redis-cli', value: `redis-cli -s ${shellQuote(socket)}` }, { id: 'socket', label: 'socket', value: socket }];
  if (t.connector === 'mysql') {
    return [
      { id: 'mariadb', label: 'mariadb', value: `mariadb -S ${shellQuote(socket)}${db ? ` ${shellQuote(db)}` : ''}` },
      { id: 'socket', label: 'socket', value: socket },
    ];
  }
  return [{ id: 'socket', label: 'socket', value: socket }];
}

/** A ~/.pg_service.conf entry: `psql service=<name>` then needs no other argument. */
function pgService(name: string, host: string, port: number, db: string | undefined): string {
  return [`[${name}]`, `host=${host}`, `port=${port}`, ...(db ? [`dbname=${db}`] : [])].join('\n') + '\n';
}

/**
 * ssh checks the host key under the name it was given: `[host]:port` for a non-22 port,
 * or the HostKeyAlias. The copied command and the known_hosts line use the same name.
 */
function sshStrings(t: TargetInfo, host: string, port: number): ConnectionString[] {
  const alias = t.hostAlias;
  const bare = host.replace(/^\[|\]$/g, '');
  const name = alias ?? (port === 22 ? bare : `[${bare}]:${port}`);
  const command = `ssh${alias ? ` -o HostKeyAlias=${alias}` : ''}${port === 22 ? '' : ` -p ${port}`} ${bare}`;
  const out: ConnectionString[] = [{ id: 'ssh', label: 'ssh', value: command }];
  if (t.hostPublicKey) out.push({ id: 'known_hosts', label: 'known_hosts line', value: `${name} ${t.hostPublicKey}` });
  if (alias) {
    out.push({ id: 'ssh_config', label: '~/.ssh/config entry', value: `Host ${alias}\n  HostName ${bare}\n  Port ${port}\n  HostKeyAlias ${alias}\n` });
  }
  out.push({ id: 'host-port', label: 'host:port', value: `${host}:${port}` });
  return out;
}

/** Reverse proxy: call the broker's address instead of the API; forward proxy: set it as http_proxy. */
function httpStrings(t: TargetInfo, local: string): ConnectionString[] {
  if (t.upstream === undefined) {
    return [
      { id: 'http_proxy', label: 'http_proxy', value: `export http_proxy=${local}` },
      { id: 'curl', label: 'curl', value: `curl -x ${local} http://HOST/PATH` },
    ];
  }
  const strings: ConnectionString[] = [
    { id: 'curl', label: 'curl', value: `curl ${local}/` },
    { id: 'uri', label: 'base URL', value: `${local}/` },
  ];
  if (t.connector === 'aws') strings.unshift({ id: 'aws', label: 'aws', value: `aws --no-sign-request --endpoint-url ${local}` });
  return strings;
}
