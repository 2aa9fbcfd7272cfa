import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry, formatValue } from '../../relay/prometheus.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts';

describe('Prometheus registry', () => {
  test('renders HELP, TYPE and samples in the order defined, ending with a newline', () => {
    const registry = new Registry();
    registry.counter('a_total', 'First.').inc({}, 3);
    registry.gauge('b', 'Second.', () => 1.5);
    assert.equal(
      registry.render(),
      '# HELP a_total First.\n# TYPE a_total counter\na_total 3\n# HELP b Second.\n# TYPE b gauge\nb 1.5\n',
    );
  });

  test('counts each label set apart, whatever order the caller wrote the labels in', () => {
    const registry = new Registry();
    const counter = registry.counter('requests_total', 'Requests.', ['type', 'code']);
    counter.inc({ type: 'send', code: 'ok' });
    counter.inc({ code: 'ok', type: 'send' }, 2);
    counter.inc({ type: 'join', code: 'ok' });
    const families = parsePrometheusText(registry.render());
    assert.equal(sampleValue(families, 'requests_total', { type: 'send', code: 'ok' }), 3);
    assert.equal(sampleValue(families, 'requests_total', { type: 'join', code: 'ok' }), 1);
    assert.equal(families.get('requests_total')!.samples.length, 2);
  });

  test('an unlabelled counter reads 0 before its first event; a labelled one has no series yet', () => {
    const registry = new Registry();
    registry.counter('plain_total', 'Plain.');
    registry.counter('labelled_total', 'Labelled.', ['code']);
    const families = parsePrometheusText(registry.render());
    assert.equal(sampleValue(families, 'plain_total'), 0);
    assert.deepEqual(families.get('labelled_total')!.samples, []);
  });

  test('a counter refuses to go down or by a number that is not finite', () => {
    const counter = new Registry().counter('c_total', 'C.');
    for (const amount of [-1, NaN, Infinity]) assert.throws(() => counter.inc({}, amount), RangeError, String(amount));
  });

  test('escapes backslashes, quotes and newlines in label values, and backslashes and newlines in help', () => {
    const registry = new Registry();
    const hostile = 'a\\b"c\nd} e="f"';
    registry.counter('odd_total', 'Help with \\ and\nnewline "quoted".', ['value']).inc({ value: hostile });
    const text = registry.render();
    assert.equal(
      text.split('\n').length,
      4,
      'HELP, TYPE, one sample and the final newline: no raw newline inside a line',
    );
    assert.ok(text.includes('# HELP odd_total Help with \\\\ and\\nnewline "quoted".\n'));
    assert.ok(text.includes('odd_total{value="a\\\\b\\"c\\nd} e=\\"f\\""} 1\n'));
    const families = parsePrometheusText(text);
    assert.equal(families.get('odd_total')!.help, 'Help with \\ and\nnewline "quoted".');
    assert.equal(sampleValue(families, 'odd_total', { value: hostile }), 1);
  });

  test('reads gauges at render time, with constant labels', () => {
    const registry = new Registry();
    let open = 1;
    registry.gauge('open', 'Open.', () => open);
    registry.gauge('build_info', 'Build.', () => 1, { engine: 'node' });
    assert.equal(sampleValue(parsePrometheusText(registry.render()), 'open'), 1);
    open = 42;
    const families = parsePrometheusText(registry.render());
    assert.equal(sampleValue(families, 'open'), 42);
    assert.equal(sampleValue(families, 'build_info', { engine: 'node' }), 1);
  });

  test('histograms count into cumulative buckets, with +Inf, sum and count', () => {
    const registry = new Registry();
    const histogram = registry.histogram('took_seconds', 'Took.', [0.01, 0.1, 1]);
    for (const value of [0.005, 0.01, 0.05, 0.5, 7, NaN]) histogram.observe(value);
    const families = parsePrometheusText(registry.render());
    assert.equal(families.get('took_seconds')!.type, 'histogram');
    const bucket = (le: string): number | undefined => sampleValue(families, 'took_seconds_bucket', { le });
    assert.deepEqual(
      [bucket('0.01'), bucket('0.1'), bucket('1'), bucket('+Inf')],
      [2, 3, 4, 5],
      'upper bounds are inclusive; NaN is not counted',
    );
    assert.equal(sampleValue(families, 'took_seconds_count'), 5);
    assert.ok(Math.abs(sampleValue(families, 'took_seconds_sum')! - 7.565) < 1e-9);
  });

  test('refuses invalid names, reused names and unordered buckets when defined', () => {
    const registry = new Registry();
    registry.gauge('taken', 'T.', () => 0);
    assert.throws(() => registry.gauge('taken', 'Again.', () => 0), /already defined/);
    assert.throws(() => registry.counter('bad-name', 'B.'), /not a valid metric name/);
    assert.throws(() => registry.counter('ok_total', 'B.', ['bad-label']), /not a valid label name/);
    assert.throws(() => registry.gauge('g', 'G.', () => 0, { __reserved: 'x' }), /not a valid label name/);
    assert.throws(() => registry.histogram('h', 'H.', [1, 1]), /ascending/);
    assert.throws(() => registry.histogram('h2', 'H.', []), /ascending/);
  });

  test('spells numbers as Go parses them', () => {
    assert.deepEqual([Infinity, -Infinity, NaN, 0, 1e21, 0.25, -3].map(formatValue), [
      '+Inf',
      '-Inf',
      'NaN',
      '0',
      '1e+21',
      '0.25',
      '-3',
    ]);
  });
});
