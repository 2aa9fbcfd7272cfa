/**
 * Which rows of a long list to render: only those in (or near) the viewport. Row heights vary
 * (a message can be one line or twenty), so each rendered row's height is measured and kept by
 * key; rows never rendered count as `estimate`. 10,000 rows cost one pass over a Float64Array per
 * layout and a binary search per scroll, so the DOM holds a few dozen rows whatever the history.
 */
export interface WindowRange {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Where row `start` begins, in px from the top of the list. */
  offset: number;
  /** Height of the whole list, in px. */
  total: number;
}

export class VirtualWindow {
  private readonly heights = new Map<string, number>();
  private offsets = new Float64Array(1);
  private keys: readonly string[] = [];

  constructor(
    private readonly estimate = 56,
    private readonly overscan = 8,
  ) {}

  /** Sets the rows, in order; call again whenever rows are added, removed or remeasured. */
  layout(keys: readonly string[]): void {
    this.keys = keys;
    if (this.offsets.length < keys.length + 1)
      this.offsets = new Float64Array(Math.max(keys.length + 1, this.offsets.length * 2));
    let top = 0;
    for (let i = 0; i < keys.length; i++) {
      this.offsets[i] = top;
      top += this.heights.get(keys[i]!) ?? this.estimate;
    }
    this.offsets[keys.length] = top;
  }

  /** Records a rendered row's height; true when it differs from what layout assumed. */
  measure(key: string, height: number): boolean {
    const known = this.heights.get(key) ?? this.estimate;
    if (Math.abs(known - height) < 0.5) return false;
    this.heights.set(key, height);
    return true;
  }

  /** Forgets measurements of rows no longer in the list. */
  prune(): void {
    if (this.heights.size <= this.keys.length * 2) return;
    const live = new Set(this.keys);
    for (const key of this.heights.keys()) if (!live.has(key)) this.heights.delete(key);
  }

  get total(): number {
    return this.offsets[this.keys.length] ?? 0;
  }

  /** The rows to render for a viewport at `scrollTop` that is `height` px tall. */
  range(scrollTop: number, height: number): WindowRange {
    const count = this.keys.length;
    const first = this.rowAt(scrollTop);
    let last = first;
    while (last < count && this.offsets[last]! < scrollTop + height) last++;
    const start = Math.max(0, first - this.overscan);
    const end = Math.min(count, last + this.overscan);
    return { start, end, offset: this.offsets[start] ?? 0, total: this.total };
  }

  /** Index of the row containing `y` (binary search over the offsets). */
  private rowAt(y: number): number {
    let low = 0;
    let high = Math.max(0, this.keys.length - 1);
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.offsets[middle]! <= y) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}
