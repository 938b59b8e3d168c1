// The audit log: an append-only JSONL file (one `{time, ...event}` per line), rotated by
// size, plus a live feed (subscribers and an in-memory ring of recent records).
//
// record() is on every connection's path, so it only queues a line; a single async
// writer appends queued lines in batches, waiting up to coalesceMs so that the records of
// many connections share one write (a file write per record cost ~10% of the broker's
// CPU under connection churn). flush() and close() write at once. I/O failures never reach the caller: they go
// to onError, once until a write succeeds again.
//
// A failed write (a full disk) can leave part of a line behind: the file is cut back to
// its last complete record, or, if even that fails, the next write starts on a new line.
// Records lost meanwhile are counted, and once writing works again an `audit.dropped`
// record says how many and why.

import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { AuditEvent, AuditRecord, AuditSink } from './types.js';
import { createEmitter } from '../net/emitter.js';
import { createFloodGuard, type FloodGuardOptions } from './flood-guard.js';

export interface AuditLog extends AuditSink {
  record(event: AuditEvent): void;
  /** Live records from now on; returns the unsubscribe function. */
  subscribe(fn: (record: AuditRecord) => void): () => void;
  /** The last `limit` records (default: all kept, about 1000), oldest first. */
  recent(limit?: number): AuditRecord[];
  readonly path: string;
  /** Resolves once everything recorded so far is written (or has failed, see onError). */
  flush(): Promise<void>;
  /** Flushes and closes the file; later records still reach subscribers but not the file. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  path: string;
  /** Rotate before the file would grow past this size (default 10 MiB). */
  maxBytes?: number;
  /** Rotated files kept: audit.jsonl.1 (newest) .. audit.jsonl.<keep> (default 5). */
  keep?: number;
  now?: () => Date;
  /** Told about I/O failures, once until a write succeeds again. */
  onError?: (err: Error) => void;
  /** Records kept in memory for recent() (default 1000). */
  recentLimit?: number;
  /** How long a record may wait to share a write with later ones (default 20 ms). */
  coalesceMs?: number;
  /** Told when writing works again after records were lost (also recorded as `audit.dropped`). */
  onDropped?: (count: number, reason: string) => void;
  /** Aggregation of connections that never log in (flood-guard.ts); false turns it off. */
  floodGuard?: FloodGuardOptions | false;
  /**
   * Rotation that drops a file with records younger than this (default 24 h) still
   * happens (the disk is bounded) but is said: in onWarning and as an `audit.rotated`
   * record at the top of the new file.
   */
  retainMs?: number;
  onWarning?: (message: string, fields: Record<string, string | number>) => void;
}

const defaultMaxBytes = 10 * 1024 * 1024;
const defaultKeep = 5;
const defaultRecentLimit = 1000;
// Past this many unwritten lines the disk is not keeping up: drop rather than grow forever.
const maxQueuedLines = 100_000;
// Lines that are worth a write of their own without waiting for more.
const COALESCE_LINES = 1_000;

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const feed = createAuditFeed(options.now ?? (() => new Date()), options.recentLimit ?? defaultRecentLimit);
  const now = options.now ?? (() => new Date());
  const publish = {
    record(event: AuditEvent): void {
      const stamped = feed.publish(event);
      if (stamped) writer.append(stamped);
    },
  };
  const writer = createJsonlWriter({
    path: options.path,
    maxBytes: options.maxBytes ?? defaultMaxBytes,
    keep: Math.max(0, Math.floor(options.keep ?? defaultKeep)),
    onError: options.onError ?? (() => {}),
    coalesceMs: options.coalesceMs ?? 20,
    onRecovered: (count, reason) => {
      publish.record({ type: 'audit.dropped', count, reason });
      options.onDropped?.(count, reason);
    },
    retainMs: options.retainMs ?? 24 * 3600_000,
    onWarning: options.onWarning ?? (() => {}),
    now,
  });
  const guard = options.floodGuard === false ? undefined : createFloodGuard(publish, { ...options.floodGuard, now: options.floodGuard?.now ?? (() => now().getTime()) });
  return {
    path: options.path,
    record: (event) => (guard ?? publish).record(event),
    subscribe: feed.subscribe,
    recent: feed.recent,
    flush() {
      guard?.drain();
      return writer.flush();
    },
    close() {
      guard?.drain();
      return writer.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Live feed, shared with the in-memory sink.

export interface AuditFeed {
  /** Stamps the event, keeps it for recent() and tells subscribers; never throws. */
  publish(event: AuditEvent): AuditRecord | undefined;
  subscribe(fn: (record: AuditRecord) => void): () => void;
  recent(limit?: number): AuditRecord[];
}

export function createAuditFeed(now: () => Date, capacity: number): AuditFeed {
  const ring: AuditRecord[] = [];
  let start = 0; // index of the oldest record once the ring is full
  // A failing subscriber (say, a closed UI stream) must not fail the caller.
  const subscribers = createEmitter<AuditRecord>();
  return {
    publish(event) {
      let record: AuditRecord;
      try {
        record = Object.freeze({ time: now().toISOString(), ...event }) as AuditRecord;
      } catch {
        return undefined; // a broken clock must not break a connection
      }
      if (capacity > 0) {
        if (ring.length < capacity) ring.push(record);
        else {
          ring[start] = record;
          start = (start + 1) % capacity;
        }
      }
      subscribers.emit(record);
      return record;
    },
    subscribe: subscribers.subscribe,
    recent(limit = capacity) {
      const ordered = [...ring.slice(start), ...ring.slice(0, start)];
      return limit <= 0 ? [] : ordered.slice(-limit);
    },
  };
}

// ---------------------------------------------------------------------------------------
// The file writer.

interface WriterOptions {
  path: string;
  maxBytes: number;
  keep: number;
  onError: (err: Error) => void;
  coalesceMs: number;
  /** A write succeeded after `count` lines were lost. */
  onRecovered: (count: number, reason: string) => void;
  retainMs: number;
  onWarning: (message: string, fields: Record<string, string | number>) => void;
  now: () => Date;
}

interface JsonlWriter {
  append(record: AuditRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

function createJsonlWriter(options: WriterOptions): JsonlWriter {
  let queue: string[] = [];
  let queued = 0; // lines accepted so far
  let done = 0; // lines written (or given up on)
  let waiters: { upTo: number; resolve: () => void }[] = [];
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failing = false;
  let file: FileHandle | undefined;
  /** Bytes of complete records in the file: where a torn write is cut back to. */
  let size = 0;
  /** The last write may have left a partial line that could not be cut off. */
  let torn = false;
  let dropped = 0;
  let dropReason = '';
  const drop = (count: number, reason: string): void => {
    dropped += count;
    dropReason = reason;
  };

  let lastError = '';
  const report = (err: unknown): void => {
    const code = (err as NodeJS.ErrnoException).code;
    lastError = code === 'ENOSPC' ? 'the disk is full (ENOSPC)' : code ? `the file could not be written (${code})` : String((err as Error).message ?? err);
    if (failing) return;
    failing = true;
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      options.onError(error);
    } catch {
      // The error reporter failing is not the caller's problem either.
    }
  };

  const openFile = async (): Promise<FileHandle> => {
    if (file) return file;
    // Modes only apply on creation; umask can narrow them, never widen.
    await mkdir(path.dirname(options.path), { recursive: true, mode: 0o700 });
    const handle = await open(options.path, 'a', 0o600);
    try {
      size = (await handle.stat()).size;
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
    file = handle;
    return handle;
  };

  const closeFile = async (): Promise<void> => {
    const handle = file;
    file = undefined;
    await handle?.close().catch(() => {});
  };

  /** Rotates; returns the line that says so when the file it drops holds records younger than retainMs. */
  const rotate = async (): Promise<string | undefined> => {
    await closeFile();
    const dropped = options.keep === 0 ? options.path : `${options.path}.${options.keep}`;
    const note = await earlyDropNote(dropped);
    if (options.keep === 0) {
      await unlink(options.path).catch(ignoreMissing);
      return note;
    }
    // .keep-1 -> .keep overwrites (drops) the oldest.
    for (let i = options.keep - 1; i >= 1; i--) {
      await rename(`${options.path}.${i}`, `${options.path}.${i + 1}`).catch(ignoreMissing);
    }
    await rename(options.path, `${options.path}.1`).catch(ignoreMissing);
    return note;
  };

  const earlyDropNote = async (file: string): Promise<string | undefined> => {
    const info = await stat(file).catch(() => undefined);
    if (!info) return undefined;
    const ageMs = Date.now() - info.mtimeMs; // file times are real time, whatever the record clock
    if (ageMs >= options.retainMs) return undefined;
    const fields = { file, newestRecordAgeMs: Math.round(ageMs), retainMs: options.retainMs, bytes: info.size };
    options.onWarning('audit log rotation dropped records younger than the retention floor (raise --audit-log size or look for a flood)', fields);
    return JSON.stringify({ time: options.now().toISOString(), type: 'audit.rotated', ...fields }) + '\n';
  };

  const writeChunk = async (lines: string[]): Promise<void> => {
    if (lines.length === 0) return;
    const data = (torn ? '\n' : '') + lines.join('');
    const handle = await openFile();
    try {
      await handle.appendFile(data);
    } catch (err) {
      // Part of the data may be in the file: cut back to the last complete record.
      torn = true;
      await handle.truncate(size).then(() => (torn = false), () => {});
      throw err;
    }
    torn = false;
    size += Buffer.byteLength(data);
  };

  /**
   * Writes lines, rotating whenever the next line would push the file past maxBytes.
   * Returns how many were written: a failed chunk is lost whole (its partial write is cut back).
   */
  const writeBatch = async (lines: string[]): Promise<number> => {
    let written = 0;
    try {
      await openFile();
      let chunk: string[] = [];
      let chunkBytes = 0;
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        const current = size + chunkBytes;
        if (current > 0 && current + bytes > options.maxBytes) {
          await writeChunk(chunk);
          written += chunk.length;
          chunk = [];
          chunkBytes = 0;
          const note = await rotate();
          await openFile();
          if (note) {
            chunk.push(note);
            chunkBytes += Buffer.byteLength(note);
          }
        }
        chunk.push(line);
        chunkBytes += bytes;
      }
      await writeChunk(chunk);
      failing = false;
      return lines.length;
    } catch (err) {
      report(err);
      await closeFile(); // reopen on the next batch: the path may be fixed by then
      return written;
    }
  };

  const settle = (): void => {
    const ready = waiters.filter((w) => w.upTo <= done);
    waiters = waiters.filter((w) => w.upTo > done);
    for (const w of ready) w.resolve();
  };

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      const written = await writeBatch(batch);
      if (written < batch.length) drop(batch.length - written, lastError);
      else if (dropped > 0) {
        const [count, reason] = [dropped, dropReason];
        dropped = 0;
        options.onRecovered(count, reason);
      }
      done += batch.length;
      settle();
      // Under a steady stream of records each write would carry only what arrived during
      // the one before (a thread-pool round trip per handful of records): wait for company
      // again. flush() and close() do not wait.
      if (queue.length > 0 && queue.length < COALESCE_LINES && waiters.length === 0 && !closed && options.coalesceMs > 0) {
        draining = false;
        timer = setTimeout(startDrain, options.coalesceMs);
        timer.unref();
        return;
      }
    }
    draining = false;
  };

  const startDrain = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (draining) return;
    draining = true;
    void drain();
  };

  const flush = (): Promise<void> => {
    if (done >= queued) return Promise.resolve();
    const upTo = queued;
    const settled = new Promise<void>((resolve) => waiters.push({ upTo, resolve }));
    startDrain();
    return settled;
  };

  return {
    append(record) {
      if (closed) return;
      if (queue.length >= maxQueuedLines) {
        report(new Error(`audit log ${options.path} is not keeping up; records are being dropped`));
        drop(1, 'the disk was not keeping up');
        return;
      }
      let line: string;
      try {
        line = JSON.stringify(record) + '\n';
      } catch (err) {
        report(err);
        return;
      }
      queue.push(line);
      queued++;
      // A running drain picks the line up; otherwise wait briefly for company.
      if (draining || timer) return;
      if (options.coalesceMs <= 0) return startDrain();
      timer = setTimeout(startDrain, options.coalesceMs);
      timer.unref();
    },
    flush,
    async close() {
      closed = true;
      await flush();
      await closeFile();
    },
  };
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
