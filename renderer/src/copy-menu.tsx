// A "Copy" menu button: one item per ready-to-paste connection string. Keyboard: the
// arrows move through the items, Escape closes and returns focus to the button.
import { useEffect, useRef, useState } from 'react';
import type { ConnectionString } from '../../broker/connection-strings.js';

export function CopyMenu({ target, strings }: { target: string; strings: ConnectionString[] }) {
  const [open, setOpen] = useState(false);
  const [copied, setCopied] = useState<string>();
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const close = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node) && e.target !== button.current) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);

  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(undefined), 1500);
    return () => clearTimeout(t);
  }, [copied]);

  if (strings.length === 0) return null;

  const copy = async (c: ConnectionString) => {
    setOpen(false);
    button.current?.focus();
    try {
      await navigator.clipboard.writeText(c.value);
      setCopied(c.label);
    } catch {
      window.prompt(`Copy the ${c.label}:`, c.value);
    }
  };

  const onKey = (e: React.KeyboardEvent) => {
    const items = [...(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      button.current?.focus();
    }
  };

  return (
    <span className="copy-menu">
      <button
        ref={button}
        type="button"
        className="small"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Copy connection strings for ${target}`}
        onClick={() => setOpen((o) => !o)}
      >
        {copied ? 'Copied' : 'Copy ▾'}
      </button>
      <span className="visually-hidden" role="status">
        {copied ? `Copied ${copied} for ${target}` : ''}
      </span>
      {open && (
        <div ref={menu} className="menu" role="menu" aria-label={`Copy for ${target}`} onKeyDown={onKey}>
          {strings.map((c) => (
            <button key={c.label} type="button" role="menuitem" tabIndex={-1} title={c.value} onClick={() => void copy(c)}>
              <span className="menu-label">{c.label}</span>
              <code>{c.value}</code>
            </button>
          ))}
        </div>
      )}
    </span>
  );
}
