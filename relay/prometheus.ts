/**
 * A tiny Prometheus registry: counters with labels, gauges read at scrape time, histograms with
 * fixed buckets, rendered in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Our own rather than prom-client:
 * the format is a page long, and the relay needs a handful of series, not a dependency tree.
 */

export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** What the registry needs from each metric to render it. */
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** Sample lines, each without its newline. */
  samples(): string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The format's number spelling: Go's ParseFloat reads JavaScript's, except for the infinities. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text escapes backslash and newline; label values also the double quote that ends them. */
function escape(text: string, chars: RegExp): string {
  return text.replace(chars, (char) => (char === '\n' ? '\\n' : `\\${char}`));
}

/** `{a="x",b="y"}`, or '' without labels. */
function labelText(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escape(value, /[\\"\n]/g)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function checkLabelNames(metric: string, names: readonly string[]): void {
  for (const name of names) {
    if (!LABEL_NAME.test(name) || name.startsWith('__'))
      throw new Error(`${metric}: "${name}" is not a valid label name`);
  }
}

/** Only ever goes up (Prometheus's rate() treats a drop as a restart). One series per label set. */
export class Counter<L extends string> {
  private readonly series = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly labelNames: readonly L[],
  ) {}

  inc(labels: LabelValues<L>, amount = 1): void {
    if (!(amount >= 0) || !Number.isFinite(amount))
      throw new RangeError(`${this.name}: a counter only goes up by a finite amount, got ${amount}`);
    // Rendered in the declared order, so one label set is one key however the caller wrote it.
    const key = labelText(Object.fromEntries(this.labelNames.map((name) => [name, labels[name]])));
    this.series.set(key, (this.series.get(key) ?? 0) + amount);
  }

  samples(): string[] {
    // An unlabelled counter reads 0 before its first event, so rate() has a starting point.
    if (this.labelNames.length === 0 && this.series.size === 0) return [`${this.name} 0`];
    return [...this.series].map(([labels, value]) => `${this.name}${labels} ${formatValue(value)}`);
  }
}

/** Counts observations into fixed buckets (upper bounds, inclusive) and keeps their sum. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    private readonly name: string,
    private readonly buckets: readonly number[],
  ) {
    const ascending = buckets.every((bound, i) => Number.isFinite(bound) && (i === 0 || bound > buckets[i - 1]!));
    if (buckets.length === 0 || !ascending) throw new Error(`${name}: buckets must be finite and strictly ascending`);
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bucket = this.buckets.findIndex((bound) => value <= bound);
    if (bucket !== -1) this.counts[bucket]!++;
    this.sum += value;
    this.count++;
  }

  samples(): string[] {
    let cumulative = 0;
    const lines = this.buckets.map((bound, i) => {
      cumulative += this.counts[i]!;
      return `${this.name}_bucket{le="${formatValue(bound)}"} ${cumulative}`;
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${formatValue(this.sum)}`,
      `${this.name}_count ${this.count}`,
    );
    return lines;
  }
}

export class Registry {
  private readonly families: Family[] = [];

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    checkLabelNames(name, labelNames);
    const counter = new Counter(name, labelNames);
    this.add({ name, help, type: 'counter', samples: () => counter.samples() });
    return counter;
  }

  /** A value read when scraped, so it is never stale and costs nothing between scrapes. */
  gauge(name: string, help: string, read: () => number, labels: Readonly<Record<string, string>> = {}): void {
    checkLabelNames(name, Object.keys(labels));
    const series = labelText(labels);
    this.add({
      name,
      help,
      type: 'gauge',
      samples: () => [`${name}${series} ${formatValue(read())}`],
    });
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const histogram = new Histogram(name, buckets);
    this.add({
      name,
      help,
      type: 'histogram',
      samples: () => histogram.samples(),
    });
    return histogram;
  }

  /** Every metric in the order defined: HELP, TYPE, then its samples. Ends with a newline, as the format asks. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.families) {
      lines.push(`# HELP ${family.name} ${escape(family.help, /[\\\n]/g)}`, `# TYPE ${family.name} ${family.type}`);
      lines.push(...family.samples());
    }
    return `${lines.join('\n')}\n`;
  }

  private add(family: Family): void {
    if (!METRIC_NAME.test(family.name)) throw new Error(`"${family.name}" is not a valid metric name`);
    if (this.families.some((other) => other.name === family.name)) throw new Error(`${family.name} is already defined`);
    this.families.push(family);
  }
}
