// Add or edit a target. Credentials are provider references; a raw secret is asked for
// only when its source is the OS keychain, where the broker stores it.
import { useEffect, useRef, useState } from 'react';
import type { TargetInfo, TargetInput } from '../../broker/api.js';
import { splitAddress } from '../../broker/connection-strings.js';

type Source = 'value' | 'env' | 'file' | 'keychain';
interface CredRow {
  key: string;
  source: Source;
  ref: string;
  secret: string;
}

const SECRET_KEY = /pass|secret|token|private|key$|^key|credential/i;

function defaultRows(name: string): CredRow[] {
  return [
    { key: 'host', source: 'value', ref: '', secret: '' },
    { key: 'port', source: 'value', ref: '5432', secret: '' },
    { key: 'username', source: 'value', ref: '', secret: '' },
    { key: 'password', source: 'keychain', ref: `secretless#${name || 'target'}`, secret: '' },
    { key: 'sslmode', source: 'value', ref: 'require', secret: '' },
  ];
}

export function TargetForm({ target, onSave, onCancel }: { target?: TargetInfo; onSave(input: TargetInput): Promise<void>; onCancel(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const current = target ? splitAddress(target.listenOn) : undefined;
  const [name, setName] = useState(target?.name ?? '');
  const [connector, setConnector] = useState(target?.connector ?? 'pg');
  const [listenKind, setListenKind] = useState<'tcp' | 'unix'>(current?.socket ? 'unix' : 'tcp');
  const [port, setPort] = useState(current?.port !== undefined ? String(current.port) : '');
  const [socket, setSocket] = useState(current?.socket ?? '');
  const [rows, setRows] = useState<CredRow[]>(target ? [] : defaultRows(''));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  const update = (i: number, patch: Partial<CredRow>) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const credentials: TargetInput['credentials'] = {};
    const keychainValues: Record<string, string> = {};
    for (const r of rows) {
      if (!r.key.trim()) continue;
      if (r.source === 'value') {
        if (SECRET_KEY.test(r.key)) return setError(`'${r.key}' is a secret: take it from the keychain, an environment variable or a file.`);
        credentials[r.key.trim()] = { literal: r.ref };
      } else {
        credentials[r.key.trim()] = { from: r.source, get: r.ref.trim() };
        if (r.source === 'keychain' && r.secret) keychainValues[r.key.trim()] = r.secret;
      }
    }
    const listenOn = listenKind === 'tcp' ? `tcp://127.0.0.1:${port.trim() || '0'}` : `unix://${socket.trim()}`;
    const input: TargetInput = { name: name.trim(), connector: connector.trim(), listenOn, credentials };
    if (Object.keys(keychainValues).length) input.keychainValues = keychainValues;
    if (target) input.previousName = target.name;
    setBusy(true);
    try {
      await onSave(input);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} className="form-dialog" aria-labelledby="form-title" onCancel={onCancel}>
      <form onSubmit={submit}>
        <h2 id="form-title">{target ? `Edit ${target.name}` : 'Add a target'}</h2>
        <div className="field">
          <label htmlFor="f-name">Name</label>
          <input id="f-name" required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]*" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="f-connector">Protocol</label>
          <select id="f-connector" value={connector} onChange={(e) => setConnector(e.target.value)}>
            <option value="pg">PostgreSQL (pg)</option>
            <option value="mysql">MySQL / MariaDB (mysql)</option>
            <option value="redis">Redis (redis)</option>
            <option value="ssh">SSH (ssh)</option>
            <option value="http">HTTP (http)</option>
          </select>
        </div>
        <fieldset>
          <legend>Local listener</legend>
          <label>
            <input type="radio" name="listen" checked={listenKind === 'tcp'} onChange={() => setListenKind('tcp')} /> TCP on 127.0.0.1
          </label>
          <label>
            <input type="radio" name="listen" checked={listenKind === 'unix'} onChange={() => setListenKind('unix')} /> Unix socket
          </label>
          {listenKind === 'tcp' ? (
            <div className="field">
              <label htmlFor="f-port">Local port</label>
              <input id="f-port" inputMode="numeric" pattern="\d{1,5}" value={port} onChange={(e) => setPort(e.target.value)} aria-describedby="f-port-help" />
              <small id="f-port-help">Fixed port, kept across restarts (written to the config). Empty or 0: a free port each start.</small>
            </div>
          ) : (
            <div className="field">
              <label htmlFor="f-socket">Socket path</label>
              <input id="f-socket" required placeholder="/run/user/1000/app-db/.s.PGSQL.5432" value={socket} onChange={(e) => setSocket(e.target.value)} />
            </div>
          )}
        </fieldset>
        <fieldset>
          <legend>Credentials</legend>
          {target && rows.length === 0 && <p className="muted">Leave empty to keep the current credentials, or add rows to replace them all.</p>}
          {rows.map((r, i) => (
            <div className="cred-row" key={i}>
              <label>
                <span className="visually-hidden">Credential {i + 1} key</span>
                <input value={r.key} placeholder="key" onChange={(e) => update(i, { key: e.target.value })} />
              </label>
              <label>
                <span className="visually-hidden">Credential {i + 1} source</span>
                <select value={r.source} onChange={(e) => update(i, { source: e.target.value as Source })}>
                  <option value="value">value</option>
                  <option value="env">environment variable</option>
                  <option value="file">file</option>
                  <option value="keychain">OS keychain</option>
                </select>
              </label>
              <label>
                <span className="visually-hidden">Credential {i + 1} {r.source === 'value' ? 'value' : 'reference'}</span>
                <input
                  value={r.ref}
                  placeholder={r.source === 'value' ? 'value' : r.source === 'env' ? 'VARIABLE' : r.source === 'file' ? '/path/to/file' : 'service#account'}
                  onChange={(e) => update(i, { ref: e.target.value })}
                />
              </label>
              {r.source === 'keychain' && (
                <label>
                  <span className="visually-hidden">Secret to store in the keychain for {r.key || `credential ${i + 1}`}</span>
                  <input type="password" autoComplete="new-password" placeholder="store a new secret (optional)" value={r.secret} onChange={(e) => update(i, { secret: e.target.value })} />
                </label>
              )}
              <button type="button" className="small" aria-label={`Remove credential ${r.key || i + 1}`} onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" className="small" onClick={() => setRows((rs) => [...rs, { key: '', source: 'value', ref: '', secret: '' }])}>
            Add credential
          </button>
        </fieldset>
        {error && (
          <p role="alert" className="notice error">
            {error}
          </p>
        )}
        <div className="form-actions">
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
