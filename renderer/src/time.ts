// Times as the UI words them. Pure: the renderer's pure modules and their unit tests use it.
/** "4m 05s", "2h 10m", "3d 4h"; undefined once expired. */
export function remaining(iso: string, now: number): string | undefined {
  const ms = Date.parse(iso) - now;
  if (!(ms > 0)) return undefined;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A wall-clock time, 24-hour, short enough for one line in the tray layout ("15:04:05"). */
export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour12: false });
}
