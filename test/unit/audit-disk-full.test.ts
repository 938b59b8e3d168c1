// The audit log on a disk that fills up for real (a small tmpfs): no torn lines, and the
// records lost meanwhile are counted in an `audit.dropped` record once there is room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createAuditLog } from '../../broker/audit/audit-log.js';
import type { AuditRecord } from '../../broker/audit/types.js';
import { mountTmpfs } from '../fixtures/tmpfs.js';

test('a full disk leaves no partial line; the lost records are counted and reported once there is room', async () => {
  const disk = mountTmpfs(128);
  try {
    const file = path.join(disk.path, 'audit.jsonl');
    const errors: string[] = [];
    const dropped: number[] = [];
    const log = createAuditLog({ path: file, coalesceMs: 0, onError: (e) => errors.push(e.message), onDropped: (n) => dropped.push(n) });
    // A long reason makes each batch cross page boundaries, so a write lands partly.
    const reason = 'x'.repeat(700);
    let n = 0;
    const batch = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) log.record({ type: 'service.failed', service: `svc-${n++}`, reason });
      await log.flush();
    };
    await batch(3);
    disk.fill();
    // Batches of different sizes until several have failed: each may end in a torn write.
    for (let size = 1; size <= 12; size++) await batch(size);
    assert.equal(errors.length, 1, 'the failure is reported once');
    assert.match(errors[0]!, /ENOSPC/);
    const whileFull = fs.readFileSync(file, 'utf8');
    assert.ok(whileFull === '' || whileFull.endsWith('\n'), 'no partial line left while the disk is full');

    disk.free();
    await batch(2);
    await log.flush(); // the audit.dropped record is queued behind the batch that succeeded
    await log.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a newline');
    const records = lines.map((l, i) => {
      try {
        return JSON.parse(l) as AuditRecord;
      } catch {
        assert.fail(`line ${i + 1} is not a complete record: ${l.slice(0, 80)}...`);
      }
    });
    const kept = records.filter((r) => r.type === 'service.failed').length;
    const notes = records.filter((r): r is Extract<AuditRecord, { type: 'audit.dropped' }> => r.type === 'audit.dropped');
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.ok(notes[0]!.count > 0);
    assert.match(notes[0]!.reason, /the disk is full \(ENOSPC\)/);
    assert.equal(kept + notes[0]!.count, n, 'every record is either in the file or counted as lost');
    assert.deepEqual(dropped, [notes[0]!.count]);
  } finally {
    disk.unmount();
  }
});
