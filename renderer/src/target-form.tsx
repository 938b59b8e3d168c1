// Add, edit or duplicate a target. The form comes from the broker's connector templates
// (a new connector appears here without renderer changes). Credentials are references:
// a secret is typed only to be stored in the OS keychain, under an item named after the
// target; an item that already exists is overwritten only after the user confirms,
// seeing which targets use it. Errors point at the field they are about.
import { useEffect, useRef, useState } from 'react';
import type { BrokerApi, ConnectorTemplate, TemplateField } from '../../broker/api.js';
import { apiErrorOf } from './api-error.js';
import { buildInput, controlId, formFromDetail, newForm, rename, SOURCE_LABELS, sourcesFor, switchConnector, type CredState, type FormState } from './form-model.js';

export type FormMode = { type: 'add' } | { type: 'edit'; name: string } | { type: 'duplicate'; name: string };

interface Props {
  api: BrokerApi;
  templates: ConnectorTemplate[];
  mode: FormMode;
  onSaved(name: string): void;
  onCancel(): void;
}

type Conflict = { field: string; id: string; usedBy: string[] };

export function TargetForm({ api, templates, mode, onSaved, onCancel }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [form, setForm] = useState<FormState | undefined>(() => (mode.type === 'add' && templates[0] ? newForm(templates.find((t) => t.connector === 'pg') ?? templates[0]) : undefined));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [conflict, setConflict] = useState<Conflict>();
  const [confirmed, setConfirmed] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const template = form ? templates.find((t) => t.connector === form.connector) : undefined;
  const title = mode.type === 'add' ? 'Add a target' : mode.type === 'edit' ? `Edit ${mode.name}` : `Duplicate ${mode.name}`;

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  useEffect(() => {
    if (mode.type === 'add') return;
    let live = true;
    api.getTarget(mode.name).then(
      (detail) => live && setForm(formFromDetail(detail, templates.find((t) => t.connector === detail.connector), mode.type === 'duplicate')),
      (err) => live && setError(apiErrorOf(err).message),
    );
    return () => {
      live = false;
    };
  }, [api, mode, templates]);

  // After errors come back, focus the first field they point at.
  useEffect(() => {
    const first = Object.keys(fieldErrors)[0];
    if (first) document.getElementById(controlId(first) || 'f-name')?.focus();
  }, [fieldErrors]);

  // A confirmation or an error below the fold of a long form: bring it into view, and
  // focus the safe choice of a confirmation.
  useEffect(() => {
    if (!conflict && !error) return;
    const el = dialog.current?.querySelector<HTMLElement>(conflict ? '[data-testid="keychain-conflict"]' : '.notice.error');
    el?.scrollIntoView({ block: 'nearest' });
    if (conflict) el?.querySelector<HTMLButtonElement>('button')?.focus();
  }, [conflict, error]);

  const update = (f: (s: FormState) => FormState) => setForm((s) => (s ? f(s) : s));
  const updateCred = (key: string, patch: Partial<CredState>) => update((s) => ({ ...s, creds: s.creds.map((c) => (c.key === key ? { ...c, ...patch } : c)) }));

  const submit = async (overwrite: string[] = confirmed) => {
    if (!form) return;
    setError(undefined);
    setConflict(undefined);
    const built = buildInput(form, template, mode.type === 'edit' ? mode.name : undefined);
    if (!built.ok) return setFieldErrors(Object.fromEntries(built.fields.map((f) => [f.path, f.message])));
    setFieldErrors({});
    const input = overwrite.length ? { ...built.input, overwriteKeychainItems: overwrite } : built.input;
    setBusy(true);
    try {
      const saved = await api.saveTarget(input);
      onSaved(saved.name);
    } catch (err) {
      const e = apiErrorOf(err);
      if (e.code === 'keychain_item_exists' && e.keychainConflict) setConflict(e.keychainConflict);
      else if (e.fields.length) {
        const known = e.fields.filter((f) => controlId(f.path) && document.getElementById(controlId(f.path)));
        setFieldErrors(Object.fromEntries(known.map((f) => [f.path, f.message])));
        const rest = e.fields.filter((f) => !known.includes(f));
        setError(rest.length ? rest.map((f) => `${f.path}: ${f.message}`).join('; ') : known.length ? undefined : e.message);
      } else setError(e.message);
    } finally {
      setBusy(false);
    }
  };

  const errorFor = (path: string) => fieldErrors[path];
  const described = (path: string, help?: string) => [fieldErrors[path] ? `${controlId(path)}-error` : '', help ?? ''].filter(Boolean).join(' ') || undefined;
  const FieldError = ({ path }: { path: string }) =>
    fieldErrors[path] ? (
      <small className="field-error" id={`${controlId(path)}-error`}>
        {fieldErrors[path]}
      </small>
    ) : null;

  return (
    <dialog ref={dialog} className="form-dialog" aria-labelledby="form-title" onCancel={onCancel}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2 id="form-title">{title}</h2>
        {!form ? (
          <p className="muted">{error ? '' : templates.length === 0 ? 'The broker offered no connectors.' : 'Loading…'}</p>
        ) : (
          <>
            <div className="field">
              <label htmlFor="f-name">Name</label>
              <input id="f-name" value={form.name} aria-invalid={!!errorFor('name')} aria-describedby={described('name')} onChange={(e) => update((s) => rename(s, e.target.value))} autoFocus={mode.type !== 'edit'} />
              <FieldError path="name" />
            </div>
            <div className="field">
              <label htmlFor="f-connector">Protocol</label>
              <select
                id="f-connector"
                value={form.connector}
                onChange={(e) => {
                  const to = templates.find((t) => t.connector === e.target.value);
                  if (to) update((s) => switchConnector(s, template, to));
                }}
              >
                {!template && <option value={form.connector}>{form.connector} (not offered by this broker)</option>}
                {templates.map((t) => (
                  <option key={t.connector} value={t.connector}>
                    {t.label}
                  </option>
                ))}
              </select>
            </div>
            <Listener form={form} update={update} error={errorFor('listenOn')} described={described('listenOn', 'f-port-help')} />
            <fieldset>
              <legend>Credentials</legend>
              {form.creds.map((c) => (
                <CredentialField key={c.key} c={c} field={template?.fields.find((f) => f.section === 'credentials' && f.key === c.key)} update={updateCred} error={<FieldError path={`credentials.${c.key}`} />} invalid={!!errorFor(`credentials.${c.key}`)} described={described(`credentials.${c.key}`)} onRemove={c.extra ? () => update((s) => ({ ...s, creds: s.creds.filter((x) => x !== c) })) : undefined} />
              ))}
              {template?.extraCredentials && <AddExtra onAdd={(key) => update((s) => (s.creds.some((c) => c.key === key) ? s : { ...s, creds: [...s.creds, { key, source: 'value', value: '', refEdited: true, secret: '', extra: true }] }))} />}
            </fieldset>
            {template && template.fields.some((f) => f.section === 'config') && (
              <fieldset>
                <legend>Settings</legend>
                {template.fields
                  .filter((f) => f.section === 'config')
                  .map((f) => (
                    <div className="field" key={f.key}>
                      <span>
                        <label htmlFor={controlId(`config.${f.key}`)}>{f.label}</label>
                        {f.required ? null : <small className="muted"> optional</small>}
                      </span>
                      <ValueInput id={controlId(`config.${f.key}`)} field={f} value={form.config[f.key] ?? ''} invalid={!!errorFor(`config.${f.key}`)} described={described(`config.${f.key}`, f.help ? `${controlId(`config.${f.key}`)}-help` : undefined)} onChange={(v) => update((s) => ({ ...s, config: { ...s.config, [f.key]: v } }))} />
                      {f.help && <small id={`${controlId(`config.${f.key}`)}-help`}>{f.help}</small>}
                      <FieldError path={`config.${f.key}`} />
                    </div>
                  ))}
              </fieldset>
            )}
          </>
        )}
        {conflict && (
          <div className="notice confirm" role="alert" data-testid="keychain-conflict">
            <p>
              The keychain item <code>{conflict.id}</code> already holds a secret
              {conflict.usedBy.length ? (
                <>
                  , used by <strong>{conflict.usedBy.join(', ')}</strong>. Overwriting it changes the password {conflict.usedBy.length === 1 ? 'that target uses' : 'those targets use'}.
                </>
              ) : (
                ' (no target uses it).'
              )}
            </p>
            <div className="form-actions">
              <button type="button" onClick={() => document.getElementById(controlId(`credentials.${conflict.field}`))?.focus()}>
                Use another item
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  const next = [...confirmed, conflict.id];
                  setConfirmed(next);
                  void submit(next);
                }}
              >
                Overwrite {conflict.id}
              </button>
            </div>
          </div>
        )}
        {error && (
          <p role="alert" className="notice error">
            {error}
          </p>
        )}
        <div className="form-actions">
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !form}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

function Listener({ form, update, error, described }: { form: FormState; update(f: (s: FormState) => FormState): void; error?: string; described?: string }) {
  const set = (patch: Partial<FormState>) => update((s) => ({ ...s, ...patch, listenEdited: true }));
  return (
    <fieldset>
      <legend>Local listener</legend>
      <label>
        <input type="radio" name="listen" checked={form.listenKind === 'tcp'} onChange={() => set({ listenKind: 'tcp' })} /> TCP on 127.0.0.1
      </label>
      <label>
        <input type="radio" name="listen" checked={form.listenKind === 'unix'} onChange={() => set({ listenKind: 'unix' })} /> Unix socket
      </label>
      {form.listenKind === 'tcp' ? (
        <div className="field">
          <label htmlFor="f-listen">Local port</label>
          <input id="f-listen" inputMode="numeric" value={form.port} aria-invalid={!!error} aria-describedby={described} onChange={(e) => set({ port: e.target.value })} />
          <small id="f-port-help">Fixed port, kept across restarts (written to the config). Empty: a free port each start.</small>
          {error && (
            <small className="field-error" id="f-listen-error">
              {error}
            </small>
          )}
        </div>
      ) : (
        <div className="field">
          <label htmlFor="f-listen">Socket path</label>
          <input id="f-listen" placeholder="/run/user/1000/app-db/.s.PGSQL.5432" value={form.socket} aria-invalid={!!error} aria-describedby={error ? 'f-listen-error' : undefined} onChange={(e) => set({ socket: e.target.value })} />
          {error && (
            <small className="field-error" id="f-listen-error">
              {error}
            </small>
          )}
        </div>
      )}
    </fieldset>
  );
}

function ValueInput({ id, field, value, onChange, invalid, described }: { id: string; field?: TemplateField; value: string; onChange(v: string): void; invalid: boolean; described?: string }) {
  const common = { id, 'aria-invalid': invalid, 'aria-describedby': described };
  if (field?.kind === 'select' && field.options) {
    return (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        {!field.required && <option value="">(default)</option>}
        {field.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  }
  if (field?.kind === 'boolean') {
    return (
      <select {...common} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">(default)</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    );
  }
  if (field?.kind === 'multiline') return <textarea {...common} rows={3} value={value} placeholder={field.placeholder} onChange={(e) => onChange(e.target.value)} />;
  return <input {...common} inputMode={field?.kind === 'number' ? 'numeric' : undefined} value={value} placeholder={field?.placeholder} onChange={(e) => onChange(e.target.value)} />;
}

function CredentialField(props: { c: CredState; field?: TemplateField; update(key: string, patch: Partial<CredState>): void; error: React.ReactNode; invalid: boolean; described?: string; onRemove?: () => void }) {
  const { c, field, update } = props;
  const label = field?.label ?? c.key;
  const id = controlId(`credentials.${c.key}`);
  const refLabel = c.source === 'keychain' ? 'keychain item' : c.source === 'env' ? 'environment variable' : c.source === 'file' ? 'file' : '';
  return (
    <div className="cred" data-key={c.key}>
      <div className="cred-head">
        <span className="cred-label">
          <label htmlFor={id}>{label}</label>
          {field?.secret || (field && !field.required) ? <small className="muted"> {[field.secret ? 'secret' : '', field.required ? '' : 'optional'].filter(Boolean).join(', ')}</small> : null}
        </span>
        <label className="visually-hidden" htmlFor={`${id}-source`}>
          {label} comes from
        </label>
        <select id={`${id}-source`} className="source" value={c.source} onChange={(e) => update(c.key, { source: e.target.value as CredState['source'], value: e.target.value === 'keep' ? '' : c.source === 'value' || c.source === 'keep' ? '' : c.value, refEdited: true })}>
          {sourcesFor(field, c.source).map((s) => (
            <option key={s} value={s}>
              {SOURCE_LABELS[s]}
            </option>
          ))}
        </select>
        {props.onRemove && (
          <button type="button" className="small" aria-label={`Remove ${c.key}`} onClick={props.onRemove}>
            Remove
          </button>
        )}
      </div>
      {c.source === 'keep' ? (
        <p className="muted" id={id} tabIndex={-1}>
          A value written in the config file (not shown). Choose another source to replace it.
        </p>
      ) : c.source === 'value' ? (
        <ValueInput id={id} field={field} value={c.value} invalid={props.invalid} described={props.described} onChange={(v) => update(c.key, { value: v })} />
      ) : (
        <div className="cred-ref">
          <input id={id} aria-label={`${label} ${refLabel}`} value={c.value} aria-invalid={props.invalid} aria-describedby={props.described} placeholder={c.source === 'env' ? 'VARIABLE' : c.source === 'file' ? '/path/to/file' : 'service#account'} onChange={(e) => update(c.key, { value: e.target.value, refEdited: true })} />
          {c.source === 'keychain' &&
            (field?.kind === 'multiline' ? (
              // A private key: several lines, masked like a password field.
              <textarea
                className="secret-text"
                rows={3}
                autoComplete="off"
                spellCheck={false}
                aria-label={`${label} to store in the keychain`}
                placeholder={c.refEdited ? 'paste a new key (empty: keep the stored one)' : field?.required ? 'paste the key to store' : 'paste the key to store (empty: not used)'}
                value={c.secret}
                onChange={(e) => update(c.key, { secret: e.target.value })}
              />
            ) : (
              <input
                type="password"
                autoComplete="new-password"
                aria-label={`${label} to store in the keychain`}
                placeholder={c.refEdited ? 'new secret (empty: keep the stored one)' : field?.required ? 'secret to store' : 'secret to store (empty: not used)'}
                value={c.secret}
                onChange={(e) => update(c.key, { secret: e.target.value })}
              />
            ))}
        </div>
      )}
      {field?.help && <small className="muted">{field.help}</small>}
      {props.error}
    </div>
  );
}

function AddExtra({ onAdd }: { onAdd(key: string): void }) {
  const [key, setKey] = useState('');
  return (
    <div className="cred-head">
      <label className="visually-hidden" htmlFor="f-extra">
        Extra parameter name
      </label>
      <input id="f-extra" placeholder="extra parameter (e.g. application_name)" value={key} onChange={(e) => setKey(e.target.value)} />
      <button
        type="button"
        className="small"
        disabled={!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)}
        onClick={() => {
          onAdd(key);
          setKey('');
        }}
      >
        Add parameter
      </button>
    </div>
  );
}
