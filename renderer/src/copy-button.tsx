import { useState } from 'react';

export function CopyButton({ label, value, target }: { label: string; value: string; target: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="small copy"
      title={value}
      aria-label={`Copy ${label} for ${target}`}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        } catch {
          window.prompt(`Copy the ${label}:`, value);
        }
      }}
    >
      {copied ? 'Copied' : label}
    </button>
  );
}
