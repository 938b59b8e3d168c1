// One IdentitySessionManager over the OIDC logins and the workload identities, so the
// exchanges (AWS STS, Vault JWT login, the `oidc` bearer provider, GCP, Azure) take an
// ID token from either by name. Login and logout exist for OIDC identities only.
import type { IdentitySessionManager } from './sessions.js';
import type { WorkloadSessions } from './workload/sessions.js';

export function combineSessions(oidc: IdentitySessionManager, workload: WorkloadSessions): IdentitySessionManager {
  const noLogin = (name: string): Error => {
    const type = workload.list().find((s) => s.name === name)?.type;
    return new Error(`identity '${name}' is a ${type} identity: its token comes from the platform, there is no login`);
  };
  return {
    list: () => [...oidc.list(), ...workload.list()],
    subscribe(listener) {
      const a = oidc.subscribe(listener);
      const b = workload.subscribe(listener);
      return () => {
        a();
        b();
      };
    },
    login: (name, opts) => (workload.has(name) ? Promise.reject(noLogin(name)) : oidc.login(name, opts)),
    logout: (name) => (workload.has(name) ? Promise.reject(noLogin(name)) : oidc.logout(name)),
    waitForLogin: (name, signal) => (workload.has(name) ? Promise.reject(noLogin(name)) : oidc.waitForLogin(name, signal)),
    apply(identities) {
      oidc.apply(identities);
      workload.apply(identities);
    },
    async resume() {
      await Promise.all([oidc.resume(), workload.resume()]);
    },
    wake() {
      oidc.wake();
      workload.wake();
    },
    idToken: (name, opts) => (workload.has(name) ? workload.idToken(name, opts) : oidc.idToken(name, opts)),
    accessToken: (name, opts) =>
      workload.has(name) ? Promise.reject(new Error(`identity '${name}' is a workload identity: it gives an ID token only (${name}#id_token)`)) : oidc.accessToken(name, opts),
    reload: (name, change) => (workload.has(name) ? Promise.resolve() : oidc.reload(name, change)),
    generation: (name) => (workload.has(name) ? workload.generation(name) : oidc.generation(name)),
    close() {
      oidc.close();
      workload.close();
    },
  };
}
