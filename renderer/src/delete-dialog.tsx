// Delete a target, after asking. Optionally removes the keychain items only it uses
// (items another target also uses are kept, and the dialog says which).
import { useEffect, useRef, useState } from 'react';
import type { BrokerApi, DeleteResult, TargetDetail } from '../../broker/api.js';
import { apiErrorOf } from './api-error.js';

export function DeleteDialog({ api, name, onDone, onCancel }: { api: BrokerApi; name: string; onDone(result: DeleteResult): void; onCancel(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [detail, setDetail] = useState<TargetDetail>();
  const [removeItems, setRemoveItems] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    api.getTarget(name).then(setDetail, (err) => setError(apiErrorOf(err).message));
  }, [api, name]);

  const own = detail?.keychainItems.filter((k) => k.sharedWith.length === 0) ?? [];
  const shared = detail?.keychainItems.filter((k) => k.sharedWith.length > 0) ?? [];

  return (
    <dialog ref={dialog} className="form-dialog narrow" aria-labelledby="delete-title" onCancel={onCancel}>
      <h2 id="delete-title">Delete {name}?</h2>
      <p>The target is removed from the config file and its listener stops. Clients using its address will be refused.</p>
      {own.length > 0 && (
        <label className="check">
          <input type="checkbox" checked={removeItems} onChange={(e) => setRemoveItems(e.target.checked)} /> Also delete its keychain item{own.length === 1 ? '' : 's'}{' '}
          {own.map((k) => (
            <code key={k.id}>{k.id}</code>
          ))}
        </label>
      )}
      {shared.length > 0 && (
        <p className="muted">
          Kept in the keychain because other targets use them:{' '}
          {shared.map((k) => (
            <span key={k.id}>
              <code>{k.id}</code> ({k.sharedWith.join(', ')}){' '}
            </span>
          ))}
        </p>
      )}
      {error && (
        <p role="alert" className="notice error">
          {error}
        </p>
      )}
      <div className="form-actions">
        <button type="button" onClick={onCancel} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          className="danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            setError(undefined);
            try {
              onDone(await api.deleteTarget(name, { removeKeychainItems: removeItems }));
            } catch (err) {
              setError(apiErrorOf(err).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          {busy ? 'Deleting…' : `Delete ${name}`}
        </button>
      </div>
    </dialog>
  );
}
