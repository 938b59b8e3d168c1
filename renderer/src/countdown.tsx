import { remaining, useNow } from './time.js';

/** Live time until `expiresAt`, or an expired state with an optional renew action. */
export function Countdown({ label, expiresAt, onRenew, renewLabel = 'Renew' }: { label: string; expiresAt?: string; onRenew?: () => void; renewLabel?: string }) {
  const now = useNow();
  if (!expiresAt) return <span className="muted">{label}: no expiry</span>;
  const left = remaining(expiresAt, now);
  const soon = left !== undefined && Date.parse(expiresAt) - now < 5 * 60_000;
  if (left === undefined) {
    return (
      <span className="expiry expired">
        <span>{label} expired</span>
        {onRenew && (
          <button type="button" className="small" onClick={onRenew}>
            {renewLabel}
          </button>
        )}
      </span>
    );
  }
  return (
    <span className={`expiry${soon ? ' soon' : ''}`}>
      <time dateTime={expiresAt} title={new Date(expiresAt).toLocaleString()}>
        {label} expires in {left}
      </time>
    </span>
  );
}
