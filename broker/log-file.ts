// The broker's log file when it runs without a terminal (the desktop app): mode 0600,
// rotated by size (name, name.1 … name.N), so a long-running tray app neither fills the
// disk nor loses the latest lines. Log lines never carry secrets (see log.ts).
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LogFileOptions {
  /** Rotate when the file grows past this. Default 5 MiB. */
  maxBytes?: number;
  /** Rotated files kept. Default 3. */
  keep?: number;
}

export interface LogFile {
  write(line: string): void;
  close(): void;
}

export function createLogFile(path: string, options: LogFileOptions = {}): LogFile {
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
  const keep = options.keep ?? 3;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd = open();
  let size = fstatSync(fd).size;

  function open(): number {
    const f = openSync(path, 'a', 0o600);
    chmodSync(path, 0o600); // an older file may have been created with other bits
    return f;
  }
  function rotate(): void {
    closeSync(fd);
    rmSync(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      try {
        renameSync(`${path}.${i}`, `${path}.${i + 1}`);
      } catch {
        // not there yet
      }
    }
    renameSync(path, `${path}.1`);
    fd = open();
    size = 0;
  }
  let closed = false;
  return {
    write(line) {
      // Late lines (a shutdown hook after close) are dropped, not a crash.
      if (closed) return;
      const buf = Buffer.from(line);
      if (size > 0 && size + buf.length > maxBytes) rotate();
      writeSync(fd, buf);
      size += buf.length;
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}
