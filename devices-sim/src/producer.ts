import type { Reading } from '@fieldline/contracts';
import type { DeviceFaults } from './faults';
import { SensorModel, type SensorModelOptions } from './sensors';
import type { OutMessage } from './transports/transport';

/**
 * What a device has to say: readings from its sensors, numbered by its `seq` counter, packed `batch` to a message,
 * with the faults that belong to the device itself (clock skew, bursts, malformed messages, out-of-order). Finished
 * messages go to `emit`.
 */
export class ReadingProducer {
  readonly sensors: SensorModel;
  private lastSeq = 0;
  private batchBuf: Reading[] = [];
  /** A message held back by the `ooo` fault, emitted after the next one. */
  private heldBack: OutMessage | null = null;

  constructor(
    private readonly deviceId: string,
    private readonly batch: number,
    private readonly faults: DeviceFaults | null,
    sensors: SensorModelOptions | undefined,
    private readonly emit: (msg: OutMessage) => void,
  ) {
    this.sensors = new SensorModel(deviceId, sensors);
  }

  /** The last `seq` used. */
  get seq(): number {
    return this.lastSeq;
  }

  /** Readings produced and not emitted yet: in a partial batch, or held back. */
  get unsent(): number {
    return this.batchBuf.length + (this.heldBack?.count ?? 0);
  }

  /** A fresh reading at `ts`, taking the next `seq`. */
  nextReading(ts: number): Reading {
    return { deviceId: this.deviceId, ts, seq: ++this.lastSeq, metrics: { ...this.sensors.sample(ts) } };
  }

  /** One reading due at `ts`, with whatever the faults add to it; it is emitted once its batch is full. */
  produce(ts: number): void {
    const f = this.faults;
    if (!f) return this.produceOne(ts);
    // The device's clock is off: its readings carry its time, as a real device's would.
    const local = ts + f.skewMs;
    this.produceOne(local);
    const burst = f.burst();
    if (burst > 0) {
      f.count('burst');
      f.stats.burst.readings = (f.stats.burst.readings ?? 0) + burst;
      // 1 ms apart: distinct times, as a sensor read in a tight loop would stamp them.
      for (let i = 1; i <= burst; i++) this.produceOne(local + i);
    }
    const bad = f.malformed(this.deviceId, local);
    if (bad) {
      f.count('malformed');
      this.emit({
        payload: bad.payload,
        count: 1,
        seq: null,
        sentAt: 0,
        attempts: 0,
        fault: { kind: 'malformed', malformed: bad.kind },
      });
    }
  }

  /** Emits a partly filled batch and a held-back message (at stop, so no reading is kept back). */
  flush(): void {
    if (this.batchBuf.length > 0) {
      const readings = this.batchBuf;
      this.batchBuf = [];
      this.queueReadings({
        payload: JSON.stringify({ readings }),
        count: readings.length,
        seq: readings[readings.length - 1].seq!,
        seqs: readings.map((r) => r.seq!),
        sentAt: 0,
        attempts: 0,
      });
    }
    this.releaseHeldBack();
  }

  private produceOne(ts: number): void {
    const r = this.nextReading(ts);
    if (this.batch === 1) {
      this.queueReadings({ payload: JSON.stringify(r), count: 1, seq: r.seq!, seqs: [r.seq!], sentAt: 0, attempts: 0 });
      return;
    }
    this.batchBuf.push(r);
    if (this.batchBuf.length >= this.batch) this.flush();
  }

  /** Emits a message of readings; the `ooo` fault holds one back until the next is emitted. */
  private queueReadings(msg: OutMessage): void {
    const f = this.faults;
    if (f && !this.heldBack && f.outOfOrder()) {
      f.count('ooo');
      this.heldBack = msg;
      return;
    }
    this.emit(msg);
    this.releaseHeldBack();
  }

  private releaseHeldBack(): void {
    if (!this.heldBack) return;
    const msg = this.heldBack;
    this.heldBack = null;
    this.emit(msg);
  }
}
