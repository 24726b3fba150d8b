/**
 * The `seq`s each device sent recently, so that a device resending after a reconnect (it never got the ack) creates
 * no second point in the store nor on operators' charts. Per device a fixed table of `window` slots indexed by
 * `seq mod window`, holding (seq, ts): a reading is a duplicate when its slot holds the same seq *and* the same ts,
 * so a device whose counter restarts (a reboot) is not mistaken for a resend. Older resends fall out of the window
 * and reach the store, whose writes are idempotent anyway. At most `maxDevices` devices are tracked (the oldest
 * tracked is dropped first); 16 bytes per slot: 4 KiB a device with the default window of 256.
 */
export class RecentSeqs {
  private readonly tables = new Map<string, Float64Array>();
  private readonly mask: number;

  constructor(
    window = 256,
    private readonly maxDevices = 50_000,
  ) {
    if (window <= 0 || (window & (window - 1)) !== 0) throw new RangeError('window must be a power of two');
    this.mask = window - 1;
  }

  /** True when `deviceId` sent this seq with this ts recently. */
  has(deviceId: string, seq: number, ts: number): boolean {
    const t = this.tables.get(deviceId);
    if (t === undefined) return false;
    const i = (seq & this.mask) << 1;
    return t[i] === seq && t[i + 1] === ts;
  }

  /** Remembers a reading that was accepted. */
  add(deviceId: string, seq: number, ts: number): void {
    let t = this.tables.get(deviceId);
    if (t === undefined) {
      if (this.tables.size >= this.maxDevices) {
        const oldest = this.tables.keys().next().value;
        if (oldest !== undefined) this.tables.delete(oldest);
      }
      // NaN never equals anything: an empty slot matches no seq.
      t = new Float64Array((this.mask + 1) * 2).fill(NaN);
      this.tables.set(deviceId, t);
    }
    const i = (seq & this.mask) << 1;
    t[i] = seq;
    t[i + 1] = ts;
  }

  get devices(): number {
    return this.tables.size;
  }
}
