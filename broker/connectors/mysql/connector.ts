// `connector: mysql` (MySQL and MariaDB). The server speaks first in this protocol. The
// broker greets the client itself, offering what the target offered last time (its
// version, status and the capabilities both sides can agree on, with the broker's own
// scramble and connection id 0), reads the client's handshake response (user and
// password ignored), and only then fetches the credentials, dials and logs in to the
// target with the service's credentials, relays the target's OK, and pipes bytes. A
// client that connects and says nothing therefore costs the target nothing. The first
// connection of a service, with no greeting known yet, dials first and mirrors the
// target's greeting (its connection id too); concurrent ones wait for that greeting.
// Target logins in progress are capped per service (maxConcurrentLogins).
//
// Capability rule: the client is offered the backend's data-phase flags that the broker
// passes through (capabilities.ts PASSTHROUGH_CAPS / PASSTHROUGH_MARIADB_CAPS; never compression;
// CLIENT_SSL only with `clientTls`); the backend gets exactly the client's chosen data-phase flags, masked by
// that offer. Both sides of the pipe therefore agree on every wire-format flag; a target
// that lost a flag the client chose since the offer fails that one login with a clear error.
//
// COM_CHANGE_USER is refused with an ERR packet by a header-only filter on the
// client->server direction (command-filter.ts); everything else, COM_RESET_CONNECTION
// included, passes untouched.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { createDbTunnel, SSH_TUNNEL_KEYS } from '../../ssh/db-tunnel.js';
import { BrokerError, errorCatalog } from '../../errors.js';
import { withDeadline } from '../../net/deadline.js';
import type { Tunnel } from '../../net/dial.js';
import { raceSignal } from '../../net/race-signal.js';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { createLoginLimit } from '../login-limit.js';
import type { Connector, ConnectionContext, Handshake, ServiceConnector, Upstream } from '../types.js';
import { clientTlsFor } from '../../tls/client-tls.js';
import { clientState, greetClient, greetFromTemplate, greetingTemplate, readClientLogin, sameProfile, writePackets, type ClientLogin, type ClientState, type GreetingTemplate } from './client-side.js';
import { clientFacingCapabilities, PASSTHROUGH_CAPS, PASSTHROUGH_MARIADB_CAPS } from './capabilities.js';
import { CAP, encodeErr, encodePacket, type Greeting, type HandshakeResponse } from './codec.js';
import { createCommandFilter } from './command-filter.js';
import { BackendErr, dropLink, loginTarget, MYSQL_CREDENTIALS, openTarget, type TargetLink } from './target-side.js';
import { databaseForm, databaseSettings, defaultDatabase, type DatabaseSettings } from '../database-settings.js';

const COM_QUIT = 0x01;

export const mysqlConnector: Connector<DatabaseSettings> = {
  spec: {
    name: 'mysql',
    requiredCredentials: ['host', 'username'],
    knownCredentials: [...MYSQL_CREDENTIALS, ...SSH_TUNNEL_KEYS],
    ...databaseSettings,
    form: databaseForm('MySQL / MariaDB', 3306),
  },
  create(service, settings, deps) {
    // sshTunnel* credentials: reach the server through an SSH bastion (broker/ssh/db-tunnel.ts).
    const tunnel = createDbTunnel(service, settings.sshTunnel, deps);
    const timeouts = { connectMs: settings.connectTimeoutMs, authMs: settings.authTimeoutMs };
    const clientTls = clientTlsFor(settings, deps);

    const logins = createLoginLimit(service.name, settings.maxConcurrentLogins);
    // The target's last greeting: what clients are offered before the broker dials.
    let profile: Greeting | undefined;
    // The greeting offered from it, encoded once per profile.
    let template: GreetingTemplate | undefined;
    // The connection that learns it (the first of the service) dials first; others wait
    // until its target has greeted.
    let learning: Promise<unknown> | undefined;
    let refusal: Buffer | undefined; // to COM_CHANGE_USER (installCommandFilter)

    async function handshake(state: ClientState, ctx: ConnectionContext): Promise<Handshake> {
      if (!profile && learning) await raceSignal(learning.catch(() => {}), ctx.signal);
      if (!profile) return dialFirst(state, ctx);
      // The broker greets first and dials only once the client has answered, so a client
      // that connects and says nothing costs no credential fetch and no target slot.
      if (template?.profile !== profile) template = greetingTemplate(profile, !!clientTls);
      const offered = template.offered;
      const scramble = greetFromTemplate(state, template);
      const login = await readLogin(state, scramble, ctx);
      const release = logins.acquire();
      let link: TargetLink | undefined;
      try {
        const { creds, via } = await credentials(ctx);
        link = await openTarget(creds, ctx, timeouts, via);
        if (!sameProfile(profile, link.greeting)) profile = link.greeting;
        const lost = capabilitiesLost(login.response, offered, link.greeting);
        if (lost)
          throw new BrokerError('target_error', `the target of service '${service.name}' changed its capabilities since the last connection (${lost}); connect again`);
        return await finishLogin(state, link, login, offered, creds, ctx);
      } catch (err) {
        if (link) dropLink(link);
        throw err;
      } finally {
        release();
      }
    }

    /** The first connection: dial, mirror the target's greeting (its connection id too), then log in. */
    async function dialFirst(state: ClientState, ctx: ConnectionContext): Promise<Handshake> {
      const release = logins.acquire();
      let link: TargetLink;
      let creds: ResolvedCredentials;
      try {
        const opening = (async () => {
          const prepared = await credentials(ctx);
          return { creds: prepared.creds, link: await openTarget(prepared.creds, ctx, timeouts, prepared.via) };
        })();
        learning = opening;
        ({ creds, link } = await opening);
        profile = link.greeting;
      } catch (err) {
        release();
        await greetForError(state, ctx, clientTls);
        throw err;
      }
      try {
        const offered = clientFacingCapabilities(link.greeting);
        const scramble = greetClient(state, link.greeting, offered, !!clientTls);
        const login = await readLogin(state, scramble, ctx);
        return await finishLogin(state, link, login, offered, creds, ctx);
      } catch (err) {
        dropLink(link);
        throw err;
      } finally {
        release();
      }
    }

    async function credentials(ctx: ConnectionContext): Promise<{ creds: ResolvedCredentials; via?: Tunnel }> {
      const resolved = await ctx.resolveCredentials();
      return tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
    }

    // A client that connects and then says nothing must not hold the connection forever.
    const readLogin = (state: ClientState, scramble: Buffer, ctx: ConnectionContext) =>
      withDeadline(readClientLogin(state, scramble, ctx, clientTls), timeouts.authMs, () => new BrokerError('timeout', `the client did not answer the greeting within ${timeouts.authMs / 1000} s`));

    async function finishLogin(state: ClientState, link: TargetLink, login: ClientLogin, offered: Offer, creds: ResolvedCredentials, ctx: ConnectionContext): Promise<Upstream> {
      const result = await loginTarget(link, login.response, offered, creds, ctx);
      link.endDeadline();
      writePackets(state, [...login.beforeOk, result.ok]);
      const upstream: Upstream = {
        type: 'upstream',
        socket: link.socket,
        clientPending: state.reader.detach(),
        upstreamPending: link.reader.detach(),
        target: link.addr.display,
        tls: !!(link.socket as { encrypted?: boolean }).encrypted,
        authMethod: result.authMethod,
      };
      installCommandFilter(upstream, state.socket, ctx, (refusal ??= changeUserRefusal(service.name)));
      return upstream;
    }

    const connector: ServiceConnector = {
      connect(client, ctx) {
        // The client's socket (TLS once it switched) and the sequence number an ERR must carry.
        const state = clientState(client, ctx);
        return {
          handshake: handshake(state, ctx).then((up) => {
            if (up?.type === 'upstream' && state.socket !== client) up.client = state.socket;
            return up;
          }),
          writeError(err) {
            if (!state.socket.writable) return;
            // A redacted target error (clientErrorFor) keeps the target's errno and SQLSTATE (1049: unknown database).
            const target = err.cause instanceof BackendErr ? err.cause.err : err.entry.mysql;
            const payload = err instanceof BackendErr ? err.err.raw : encodeErr(target.errno, target.sqlState, err.message);
            state.socket.write(encodePacket(state.nextSeq, payload));
          },
        };
      },
      // Nothing is held per service beyond the connections themselves.
      close: async () => {},
      // As MariaDB's 1040: an ERR packet in place of the greeting.
      refuse(client, err) {
        client.write(encodePacket(0, encodeErr(err.entry.mysql.errno, err.entry.mysql.sqlState, err.message)));
      },
      async probe(ctx) {
        const resolved = await ctx.resolveCredentials();
        const { creds, via } = tunnel ? tunnel.prepare(resolved) : { creds: resolved, via: undefined };
        const link = await openTarget(creds, ctx, timeouts, via);
        try {
          const offered = clientFacingCapabilities(link.greeting);
          // What a plain client would answer: the offered flags, the server's charset, the default database.
          const database = defaultDatabase(service);
          const response: HandshakeResponse = {
            type: 'handshake-response',
            capabilities: offered.capabilities | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | (database ? CAP.CONNECT_WITH_DB : 0),
            mariadbCapabilities: offered.mariadbCapabilities,
            maxPacketSize: 0x1000000,
            charset: link.greeting.charset,
            username: '',
            authResponse: Buffer.alloc(0),
            ...(database ? { database } : {}),
          };
          const result = await loginTarget(link, response, offered, creds, ctx);
          link.socket.end(encodePacket(0, Buffer.from([COM_QUIT])));
          return { target: link.addr.display, authMethod: result.authMethod };
        } finally {
          dropLink(link);
        }
      },
    };
    return connector;
  },
};

/**
 * Clients treat an ERR in place of the greeting as unverifiable (mariadb 10.11 wraps it
 * in "2002 Received error packet before completion of TLS handshake"), so when the
 * target or the credentials fail before there is a greeting to mirror, the broker greets
 * the client itself, reads its response, and the error follows as the login's answer.
 */
async function greetForError(state: ClientState, ctx: ConnectionContext, clientTls: (() => Promise<SecureContext>) | undefined): Promise<void> {
  if (ctx.signal.aborted || !state.socket.writable) return;
  const stand: Greeting = {
    type: 'greeting',
    serverVersion: '5.5.5-10.11.0-MariaDB-secretless-broker',
    connectionId: 0,
    scramble: Buffer.alloc(20),
    capabilities: PASSTHROUGH_CAPS | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.CONNECT_ATTRS,
    mariadbCapabilities: PASSTHROUGH_MARIADB_CAPS,
    charset: 45,
    status: 2,
    authPlugin: 'mysql_native_password',
  };
  const scramble = greetClient(state, stand, clientFacingCapabilities(stand), !!clientTls);
  try {
    await withDeadline(readClientLogin(state, scramble, ctx, clientTls), ERROR_GREETING_WAIT_MS, () => new Error('no answer'));
  } catch {
    // The client's answer (or its silence) does not matter any more.
  }
}

const ERROR_GREETING_WAIT_MS = 5_000;

/** The ERR a COM_CHANGE_USER gets: the same for every connection of a service, so encoded once. */
function changeUserRefusal(service: string): Buffer {
  const { errno, sqlState } = errorCatalog.command_refused.mysql;
  const message = `COM_CHANGE_USER is refused: service '${service}' always uses the broker's configured login; reconnect instead (COM_RESET_CONNECTION is allowed)`;
  return encodePacket(1, encodeErr(errno, sqlState, message));
}

/** The data-phase check of client->target bytes: COM_CHANGE_USER is answered with an ERR here, never forwarded. */
function installCommandFilter(upstream: Upstream, client: Socket, ctx: ConnectionContext, refusal: Buffer): void {
  const filter = createCommandFilter();
  const check = (chunk: Buffer) => {
    const { forward, refused } = filter.push(chunk);
    for (let i = 0; i < refused; i++) {
      ctx.logger.info('COM_CHANGE_USER refused', { service: ctx.service.name });
      if (client.writable) client.write(refusal);
    }
    return forward;
  };
  // The native pump passes whole command packets itself while the filter is idle.
  upstream.clientToTarget = Object.assign(check, { native: { kind: 'mysql' as const, idle: () => filter.idle() } });
}

type Offer = ReturnType<typeof clientFacingCapabilities>;

/**
 * Data-phase flags the client chose from an offer made before dialing that the target
 * now dialed does not support (the server was upgraded or replaced): naming them, or
 * undefined when the pipe's two sides agree.
 */
function capabilitiesLost(client: HandshakeResponse, offered: Offer, target: Greeting): string | undefined {
  const now = clientFacingCapabilities(target);
  const caps = (client.capabilities & offered.capabilities & PASSTHROUGH_CAPS & ~now.capabilities) >>> 0;
  const mariadb = (client.mariadbCapabilities & offered.mariadbCapabilities & PASSTHROUGH_MARIADB_CAPS & ~now.mariadbCapabilities) >>> 0;
  if (!caps && !mariadb) return undefined;
  return `capability flags 0x${caps.toString(16)}, MariaDB flags 0x${mariadb.toString(16)}`;
}

export type { TargetLink };
