/**
 * Reads the Prometheus text format 0.0.4 back, strictly enough to catch what a scraper would
 * refuse: a sample before its TYPE, a bad label escape, a number Go would not parse, a missing
 * final newline.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/;

/** Label values escape backslash, quote and newline; HELP text the first and last, which reads back the same way. */
function unescape(text: string): string {
  return text.replace(/\\([\\"n])/g, (_all, char: string) => (char === 'n' ? '\n' : char));
}

function number(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw new Error(`not a number: ${text}`);
  return Number(text);
}

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const match = LABEL.exec(rest);
    if (match === null) throw new Error(`bad labels: {${text}}`);
    labels[match[1]!] = unescape(match[2]!);
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** Families by metric name; a histogram's _bucket, _sum and _count samples belong to its family. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the last line must end with a newline');
  const families = new Map<string, Family>();
  let current: { name: string; family: Family } | null = null;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      if (families.has(help[1]!)) throw new Error(`second HELP for ${help[1]}`);
      current = {
        name: help[1]!,
        family: { help: unescape(help[2]!), type: '', samples: [] },
      };
      families.set(help[1]!, current.family);
    } else if (type) {
      if (current === null || current.name !== type[1]) throw new Error(`TYPE without its HELP: ${line}`);
      current.family.type = type[2]!;
    } else {
      const sample = SAMPLE.exec(line);
      if (sample === null) throw new Error(`not a sample line: ${line}`);
      if (current === null || current.family.type === '') throw new Error(`sample before its TYPE: ${line}`);
      const { name, family } = current;
      const suffixes = family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
      if (!suffixes.some((suffix) => sample[1] === `${name}${suffix}`))
        throw new Error(`sample outside its family: ${line}`);
      family.samples.push({
        name: sample[1]!,
        labels: labelsOf(sample[2] ?? ''),
        value: number(sample[3]!),
      });
    }
  }
  return families;
}

/** The value of the one sample called `name` with exactly these labels. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    const found = family.samples.find(
      (sample) => sample.name === name && JSON.stringify(sample.labels) === JSON.stringify(labels),
    );
    if (found) return found.value;
  }
  return undefined;
}
