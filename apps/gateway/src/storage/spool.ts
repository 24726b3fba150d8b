import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Reading } from '@fieldline/contracts';
import { errorMessage } from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import { type CommitListener, type Journal, type JournalStats, OpenGroup } from './journal';

/*
 * The spool: the gateway's {@link Journal}, an append-only file journal of accepted readings under DATA_DIR/spool, so that a reading a device was told
 * is accepted survives the gateway process being killed before the store has it.
 *
 * - Files: `seg-<12-digit id>.ndjson`, one reading per line as JSON, in acceptance order; ids only grow. The newest
 *   segment is the one appended to; it is sealed at `segmentBytes` (or once everything in it is stored) and a new one
 *   is opened at the next append.
 * - Group commit: `append` only collects; the readings of one event-loop turn are written with one `write` call in a
 *   `setImmediate`, and then every {@link Spool.afterCommit} callback of that group runs (this is when devices get their
 *   ack). No fsync by default: a written group is in the page cache and survives the process (SIGKILL, OOM); a power
 *   loss can lose the groups the kernel had not yet written back (up to a few seconds). `fsync: true` (SPOOL_FSYNC)
 *   adds an fdatasync per group.
 * - Reading back: the writer consumes readings in acceptance order, from memory while it keeps up, and from the files
 *   ({@link Spool.readBack}) for the stretch it could not hold in memory (`markBehind`) and for segments left over by a
 *   previous run. {@link Spool.confirm} counts readings stored, in the same order; a sealed segment whose readings are
 *   all stored is deleted.
 * - Bounds: `maxBytes` of segment files; beyond it `append` refuses (the device retries later).
 * - A crash can leave a torn last line (a group cut mid-write): it was never acknowledged, and is skipped on replay.
 */

export interface SpoolOptions {
  dir: string;
  /** Bytes of segment files at most; beyond, `append` refuses. */
  maxBytes: number;
  /**
   * A segment is sealed once it is this large (and deleted once stored). Default 4 MiB: under a steady load the
   * newest segment is never entirely stored, so this bounds what a crash makes the next run write again.
   */
  segmentBytes?: number;
  /** fdatasync after every group write (survives power loss; costs a disk flush per group). */
  fsync?: boolean;
  log?: Pick<Logger, 'warn' | 'error'>;
  /**
   * Take `LOCK` (this process's pid) in the directory, so that two gateways never share a spool (each would replay
   * and delete the other's segments). A lock of a process that is gone is taken over.
   */
  lock?: boolean;
}

interface Segment {
  id: number;
  path: string;
  /** Bytes written (committed) so far. */
  bytes: number;
  /** Readings in it, as far as known: all of them for segments of this run, those read so far for leftovers. */
  count: number;
  /** Readings confirmed stored. */
  stored: number;
  /** False while a leftover segment has not been read to its end. */
  known: boolean;
  sealed: boolean;
  createdAt: number;
  fd: number | null;
}

const READ_CHUNK = 1 << 20;
const NAME = /^seg-(\d{12})\.ndjson$/;
/** An emptied newest segment is replaced once it holds this much, or is this old: what a crash would replay. */
const RECYCLE_BYTES = 1 << 20;
const RECYCLE_MS = 5000;

export class Spool implements Journal {
  private readonly segments: Segment[] = [];
  private nextId = 1;
  private totalBytes = 0;
  private readonly group = new OpenGroup(() => this.commit());
  private closed = false;
  private groups = 0;
  private appended = 0;
  private skipped = 0;
  /** Where the disk-only stretch continues: a segment and a byte offset in it. null: nothing to read back. */
  private cursor: { seg: Segment; offset: number } | null = null;
  /** Readings committed but not yet read back (for segments of this run; leftovers add as they are read). */
  private backlogCount = 0;
  private reading = false;
  private readonly segmentBytes: number;
  /** Called after each group write, with the group's readings (which the writer holds in memory, or not). */
  private onCommit: CommitListener | null = null;

  constructor(private readonly opts: SpoolOptions) {
    this.segmentBytes = opts.segmentBytes ?? 4 << 20;
  }

  /**
   * Creates the directory and finds segments left by an earlier run: they are read back first. `onCommit` gets each
   * group once written (the write buffer's; a spec of the spool alone may leave it out).
   */
  open(onCommit: CommitListener | null = null): void {
    this.onCommit = onCommit;
    mkdirSync(this.opts.dir, { recursive: true });
    if (this.opts.lock) this.takeLock();
    const ids: number[] = [];
    for (const name of readdirSync(this.opts.dir)) {
      const m = NAME.exec(name);
      if (m) ids.push(Number(m[1]));
    }
    ids.sort((a, b) => a - b);
    for (const id of ids) {
      const path = this.pathOf(id);
      const st = statSync(path);
      if (st.size === 0) {
        unlinkSync(path);
        continue;
      }
      this.segments.push({
        id,
        path,
        bytes: st.size,
        count: 0,
        stored: 0,
        known: false,
        sealed: true,
        createdAt: st.mtimeMs,
        fd: null,
      });
      this.totalBytes += st.size;
      this.nextId = id + 1;
    }
    if (this.segments.length > 0) this.cursor = { seg: this.segments[0], offset: 0 };
  }

  /** Leftover segments from an earlier run that are not yet read back. */
  get replaying(): boolean {
    return this.segments.some((s) => !s.known);
  }

  /** True while some readings are only on disk (the store is behind, or a leftover is being replayed). */
  get behind(): boolean {
    return this.cursor !== null;
  }

  /**
   * Adds readings to the current group. Returns false, taking none, when the spool is at its size bound or closed.
   * The group is written at the end of this event-loop turn.
   */
  append(readings: readonly Reading[]): boolean {
    if (this.closed || this.totalBytes >= this.opts.maxBytes) return false;
    if (readings.length > 0) this.group.add(readings);
    return true;
  }

  /** Calls `cb` once everything appended so far is written (at once when it already is), or with the write error. */
  afterCommit(cb: (err?: Error) => void): void {
    this.group.afterCommit(cb);
  }

  /** Writes the current group now (also run by the scheduled commit). */
  commit(): void {
    const taken = this.group.take();
    if (taken === null) return;
    const { readings, callbacks } = taken;
    let err: Error | undefined;
    if (readings.length > 0) {
      try {
        this.write(readings);
      } catch (e) {
        err = e instanceof Error ? e : new Error(String(e));
        this.opts.log?.error(`spool write of ${readings.length} readings failed: ${err.message}`);
        // The file may end in part of the group: the next group starts a new segment; the part is a torn tail.
        const seg = this.segments[this.segments.length - 1];
        if (seg && !seg.sealed) {
          try {
            const size = fstatSync(seg.fd!).size;
            this.totalBytes += size - seg.bytes;
            seg.bytes = size;
          } catch {
            // The size stays as last known: the reader stops there.
          }
          this.seal(seg);
        }
      }
    }
    if (err === undefined && readings.length > 0) this.onCommit?.(readings);
    for (let i = 0; i < callbacks.length; i++) {
      // One transport's failure must not keep the others' acks back.
      try {
        callbacks[i](err);
      } catch (e) {
        this.opts.log?.error(`spool commit callback failed: ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
  }

  private write(readings: readonly Reading[]): void {
    let text = '';
    for (let i = 0; i < readings.length; i++) text += JSON.stringify(readings[i]) + '\n';
    let seg = this.segments.length > 0 ? this.segments[this.segments.length - 1] : undefined;
    if (!seg || seg.sealed) seg = this.newSegment();
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(seg.fd!, buf, off, buf.length - off);
    if (this.opts.fsync) fdatasyncSync(seg.fd!);
    this.groupStart = { seg, offset: seg.bytes };
    seg.bytes += buf.length;
    seg.count += readings.length;
    this.totalBytes += buf.length;
    this.groups++;
    this.appended += readings.length;
    if (this.cursor !== null) this.backlogCount += readings.length;
    if (seg.bytes >= this.segmentBytes) this.seal(seg);
  }

  /** Start of the group last written: where the disk-only stretch begins if the writer cannot hold that group. */
  private groupStart: { seg: Segment; offset: number } | null = null;

  /**
   * Called by the writer from `onCommit` when it cannot hold the group in memory: from that group on, readings are
   * read back from disk until {@link readBack} has caught up.
   */
  markBehind(n: number): void {
    if (this.cursor !== null || this.groupStart === null) return;
    this.cursor = { ...this.groupStart };
    this.backlogCount = n;
  }

  /** Readings waiting on disk (an estimate while leftovers are replayed: those not counted yet are not in it). */
  get backlog(): number {
    return this.backlogCount;
  }

  /**
   * The next readings of the disk-only stretch, at most `max`, in order. Resolves with [] when it has caught up
   * (then {@link behind} is false and new groups may be held in memory again).
   */
  async readBack(max: number): Promise<Reading[]> {
    if (this.reading) throw new Error('spool readBack is already running');
    this.reading = true;
    try {
      const out: Reading[] = [];
      // Set by the first reading returned: whether it comes from a segment left by an earlier run.
      let replay = false;
      while (this.cursor !== null && out.length < max) {
        const { seg } = this.cursor;
        // A batch is either all replayed (left by an earlier run) or all from this run: the writer counts them apart.
        if (out.length > 0 && replay && seg.known) break;
        const start = this.cursor.offset;
        const end = seg.bytes;
        if (start >= end) {
          if (!this.advance(seg)) break;
          continue;
        }
        const len = Math.min(READ_CHUNK, end - start);
        const buf = Buffer.allocUnsafe(len);
        const fh = await openFile(seg.path, 'r');
        let got: number;
        try {
          ({ bytesRead: got } = await fh.read(buf, 0, len, start));
        } finally {
          await fh.close();
        }
        let pos = 0;
        let complete = false;
        while (out.length < max) {
          const nl = buf.indexOf(10, pos);
          if (nl < 0 || nl >= got) break;
          complete = true;
          const line = buf.toString('utf8', pos, nl);
          pos = nl + 1;
          try {
            const r = JSON.parse(line) as Reading;
            if (out.length === 0) replay = !seg.known;
            out.push(r);
            if (!seg.known) seg.count++;
            else if (this.backlogCount > 0) this.backlogCount--;
          } catch {
            this.skipped++;
            this.opts.log?.warn(`spool ${seg.path}: skipped a corrupt line ending at byte ${start + pos}`);
          }
        }
        if (!complete && got > 0) {
          // No complete line in the rest of the file: a torn tail of a crashed run (never acknowledged).
          if (!seg.sealed || start + got < end) {
            throw new Error(`spool ${seg.path}: a line longer than ${READ_CHUNK} bytes at byte ${start}`);
          }
          this.skipped++;
          this.opts.log?.warn(`spool ${seg.path}: skipped a torn last line (${end - start} bytes)`);
          pos = end - start;
        }
        this.cursor.offset = start + pos;
      }
      if (this.backlogCount < 0) this.backlogCount = 0;
      this.lastReadReplay = replay;
      return out;
    } finally {
      this.reading = false;
    }
  }

  /** Whether the last {@link readBack} returned readings left by an earlier run (not accepted by this one). */
  lastReadReplay = false;

  /** The cursor is at the end of `seg`: move on. Returns false when caught up. */
  private advance(seg: Segment): boolean {
    if (!seg.sealed) {
      // The newest segment, read to its end: caught up.
      this.cursor = null;
      this.backlogCount = 0;
      return false;
    }
    if (!seg.known) {
      seg.known = true;
      this.maybeDelete();
    }
    const i = this.segments.indexOf(seg);
    const next = this.segments[i + 1];
    if (next === undefined) {
      this.cursor = null;
      this.backlogCount = 0;
      return false;
    }
    this.cursor = { seg: next, offset: 0 };
    this.maybeDelete();
    return true;
  }

  /** `n` more readings, the oldest not yet confirmed, are stored (or dead-lettered). */
  confirm(n: number): void {
    for (const seg of this.segments) {
      if (n <= 0) break;
      const take = Math.min(n, seg.count - seg.stored);
      seg.stored += take;
      n -= take;
    }
    this.maybeDelete();
    const last = this.segments[this.segments.length - 1];
    if (
      last !== undefined &&
      !last.sealed &&
      this.cursor === null &&
      this.group.size === 0 &&
      last.stored === last.count &&
      (last.bytes >= RECYCLE_BYTES || Date.now() - last.createdAt >= RECYCLE_MS)
    ) {
      this.seal(last);
      this.maybeDelete();
    }
  }

  private maybeDelete(): void {
    while (this.segments.length > 0) {
      const seg = this.segments[0];
      if (!seg.sealed || !seg.known || seg.stored < seg.count) break;
      if (this.cursor?.seg === seg) break;
      this.segments.shift();
      this.totalBytes -= seg.bytes;
      try {
        unlinkSync(seg.path);
      } catch (err) {
        this.opts.log?.warn(`spool: cannot delete ${seg.path}: ${errorMessage(err)}`);
      }
    }
  }

  private takeLock(): void {
    const path = join(this.opts.dir, 'LOCK');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, String(process.pid), { flag: 'wx' });
        this.lockPath = path;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(
          `DATA_DIR: the spool ${this.opts.dir} is in use by process ${pid}; every gateway needs a DATA_DIR of its own (delete ${path} if that process is not a gateway)`,
        );
      }
      unlinkSync(path);
    }
    throw new Error(`DATA_DIR: cannot take ${path}`);
  }

  private lockPath: string | null = null;

  private newSegment(): Segment {
    const id = this.nextId++;
    const path = this.pathOf(id);
    const seg: Segment = {
      id,
      path,
      bytes: 0,
      count: 0,
      stored: 0,
      known: true,
      sealed: false,
      createdAt: Date.now(),
      fd: openSync(path, 'a'),
    };
    this.segments.push(seg);
    return seg;
  }

  private seal(seg: Segment): void {
    seg.sealed = true;
    if (seg.fd !== null) {
      closeSync(seg.fd);
      seg.fd = null;
    }
  }

  private pathOf(id: number): string {
    return join(this.opts.dir, `seg-${String(id).padStart(12, '0')}.ndjson`);
  }

  stats(): JournalStats {
    const oldest = this.segments[0];
    return {
      bytes: this.totalBytes,
      segments: this.segments.length,
      oldestAgeMs: oldest ? Math.max(0, Date.now() - oldest.createdAt) : 0,
      backlog: this.backlogCount,
      groups: this.groups,
      appended: this.appended,
      skipped: this.skipped,
    };
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** Writes the open group and closes the newest segment's file; files with unstored readings stay for next start. */
  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    for (const seg of this.segments) if (seg.fd !== null) this.seal(seg);
    this.maybeDelete();
    if (this.lockPath !== null) {
      try {
        unlinkSync(this.lockPath);
      } catch {
        // Gone already: nothing to release.
      }
      this.lockPath = null;
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
