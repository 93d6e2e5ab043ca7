import { describe, expect, it } from 'vitest';
import { baseMetric, dashboardExpressions, exportedLabels, exportedMetrics, expressionLabels, MetricNameError, ruleExpressions, seriesNames } from './metric-names.js';

describe('seriesNames', () => {
  it('keeps metric names, drops functions, aggregations, label matchers, groupings, ranges and numbers', () => {
    expect(seriesNames('sum by (region, keyspace) (rate(geogate_conflicts_resolved_total{type="lww", keyspace=~"or.*"}[5m])) > 1')).toEqual(['geogate_conflicts_resolved_total']);
    expect(seriesNames('histogram_quantile(0.99, sum by (le) (rate(geogate_http_request_duration_seconds_bucket[$__rate_interval])))')).toEqual(['geogate_http_request_duration_seconds_bucket']);
    expect(seriesNames('geogate_tls_certificate_expiry_seconds < 14 * 86400')).toEqual(['geogate_tls_certificate_expiry_seconds']);
    expect(seriesNames('a_total / ignoring(status) group_left b_total or on(region) c unless bool d offset 5m')).toEqual(['a_total', 'b_total', 'c', 'd']);
    expect(seriesNames('max_over_time(x{region="$region"}[10m:1m]) - x')).toEqual(['x']);
  });

  it('refuses an unbounded expression', () => {
    expect(() => seriesNames('x'.repeat(10_001))).toThrow(MetricNameError);
  });
});

describe('baseMetric', () => {
  it('maps a histogram series to its metric only when the metric is known', () => {
    const known = new Set(['h_seconds', 'c_total']);
    expect(baseMetric('h_seconds_bucket', known)).toBe('h_seconds');
    expect(baseMetric('h_seconds_count', known)).toBe('h_seconds');
    expect(baseMetric('c_total', known)).toBe('c_total');
    expect(baseMetric('nope_count', known)).toBe('nope_count');
  });
});

describe('exportedMetrics', () => {
  it('reads TYPE lines and sample names', () => {
    const text = '# HELP a_total x\n# TYPE a_total counter\na_total{r="e"} 1\n# TYPE h histogram\nh_bucket{le="1"} 0\nuntyped 3\n';
    expect([...exportedMetrics(text)].sort()).toEqual(['a_total', 'h', 'h_bucket', 'untyped']);
  });
});

describe('ruleExpressions', () => {
  it('reads plain, quoted and block expressions', () => {
    const yaml = [
      'groups:', '  - name: g', '    rules:',
      '      - alert: A', '        expr: a == 0',
      '      - alert: B', '        expr: "b > 1"',
      '      - alert: C', '        expr: |', '          sum(rate(c[5m]))', '            > 2', '        for: 1m',
      '      - record: r:d', '        expr: >-', '          d', '        labels: {}',
    ].join('\n');
    expect(ruleExpressions(yaml)).toEqual(['a == 0', 'b > 1', 'sum(rate(c[5m]))\n            > 2', 'd']);
  });

  it('throws when a rule has no expr it can read', () => {
    expect(() => ruleExpressions('groups:\n  - name: g\n    rules:\n      - alert: A\n        labels: {}\n')).toThrow(/0 expr: values for 1 rules/);
  });
});

describe('dashboardExpressions', () => {
  it('takes the targets of panels, of panels in rows, and label_values variables', () => {
    const dash = {
      panels: [
        { title: 'one', targets: [{ expr: 'a' }] },
        { title: 'row', type: 'row', panels: [{ title: 'two', targets: [{ expr: 'b' }, { refId: 'x' }] }] },
      ],
      templating: { list: [{ name: 'region', query: { query: 'label_values(c, region)' } }, { name: 'ds', query: 'prometheus' }] },
    };
    expect(dashboardExpressions(dash)).toEqual([
      { where: 'panel "one"', expr: 'a' },
      { where: 'panel "two"', expr: 'b' },
      { where: 'variable "region"', expr: 'c' },
    ]);
  });
});

describe('expressionLabels', () => {
  it('takes matcher and grouping labels, not label values', () => {
    expect(expressionLabels('sum by (region, le) (rate(h_bucket{method=~"PUT|POST", route!="a,b=c"}[5m])) / on(region) group_left(peer) x')).toEqual(['le', 'method', 'peer', 'region', 'route']);
  });
});

describe('exportedLabels', () => {
  it('collects the label names of each series', () => {
    const labels = exportedLabels('# TYPE a counter\na{x="1",y="q\\"z"} 1\na{z="2"} 2\nb 3\n');
    expect([...labels.get('a')!].sort()).toEqual(['x', 'y', 'z']);
    expect([...labels.get('b')!]).toEqual([]);
  });
});
