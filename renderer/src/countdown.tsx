import { useEffect, useState } from 'react';
import { remaining } from './time.js';

/** The current time, re-rendering every second while mounted. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

/**
 * Live time until `expiresAt`, or an expired state with an optional renew action. Nothing
 * when there is no expiry (a static secret): "no expiry" on every row is noise.
 * `short` (the compact layout) shows the time left only, the label goes to the tooltip.
 */
export function Countdown({ label, expiresAt, onRenew, renewLabel = 'Renew', short = false }: { label: string; expiresAt?: string; onRenew?: () => void; renewLabel?: string; short?: boolean }) {
  const now = useNow();
  if (!expiresAt) return null;
  const left = remaining(expiresAt, now);
  const soon = left !== undefined && Date.parse(expiresAt) - now < 5 * 60_000;
  if (left === undefined) {
    return (
      <span className="expiry expired">
        <span>{short ? 'expired' : `${label} expired`}</span>
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
      <time dateTime={expiresAt} title={`${label} expires ${new Date(expiresAt).toLocaleString()}`}>
        {short ? left : `${label} expires in ${left}`}
      </time>
    </span>
  );
}
