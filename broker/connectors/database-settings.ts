// The `config:` settings and literal checks the database connectors (pg, mysql) share.
import type { ConnectorSpec } from '../config/types.js';
import { databaseLiteralChecks, durationMsSetting, looseBooleanSetting, pathSetting, settingChecks } from '../config/setting-checks.js';
import { checkTunnelSetting } from '../ssh/db-tunnel.js';
import { SSL_MODES } from '../tls/backend-tls.js';

export const DATABASE_CONFIG_KEYS = ['connectTimeoutMs', 'authTimeoutMs', 'clientTls', 'clientTlsCert', 'clientTlsKey', 'sshTunnel'];

export const databaseChecks: Pick<ConnectorSpec, 'checkLiteral' | 'checkSetting'> = {
  checkLiteral: databaseLiteralChecks(SSL_MODES),
  checkSetting: settingChecks({
    connectTimeoutMs: durationMsSetting,
    authTimeoutMs: durationMsSetting,
    clientTls: looseBooleanSetting,
    clientTlsCert: pathSetting,
    clientTlsKey: pathSetting,
    sshTunnel: checkTunnelSetting,
  }),
};
