/**
 * The metric names a PromQL expression reads, for checking dashboards and alert rules against
 * what the services export. Not a PromQL parser: it drops strings, label matchers, groupings,
 * ranges and numbers, then keeps the identifiers that are not functions, aggregations or keywords.
 */

/** Identifiers PromQL gives a meaning of its own (operators, modifiers, literals). */
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2']);
/** Suffixes of the series a histogram or summary exposes under its base name. */
const SERIES_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Expressions longer than this are refused (a dashboard or a rule has no reason to be). */
export const EXPRESSION_CHARS_MAX = 10_000;

export class MetricNameError extends Error {
  override readonly name = 'MetricNameError';
}

/** Names of the series an expression reads, `_bucket`/`_sum`/`_count` kept as written. */
export function seriesNames(expr: string): string[] {
  if (expr.length > EXPRESSION_CHARS_MAX) throw new MetricNameError(`expression of ${expr.length} characters (at most ${EXPRESSION_CHARS_MAX})`);
  let text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/#[^\n]*/g, ' ') // comments
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  // Grafana variables ($__rate_interval, ${var}) and numbers, durations included (5m, 1e3, 0x1f).
  text = text.replace(/\$\{[^}]*\}|\$[A-Za-z_]\w*/g, ' ').replace(/\b\d[\w.]*/g, ' ');
  const names = new Set<string>();
  for (const m of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const id = m[0];
    const after = text.slice(m.index! + id.length).trimStart();
    if (after.startsWith('(')) continue; // function or aggregation
    if (KEYWORDS.has(id.toLowerCase())) continue;
    names.add(id);
  }
  return [...names].sort();
}

/** The metric a series name belongs to: a histogram's `x_bucket`, `x_sum`, `x_count` are `x` when `x` is known. */
export function baseMetric(series: string, known: ReadonlySet<string>): string {
  if (known.has(series)) return series;
  for (const suffix of SERIES_SUFFIXES) {
    if (series.endsWith(suffix) && known.has(series.slice(0, -suffix.length))) return series.slice(0, -suffix.length);
  }
  return series;
}

/** Metric names declared by Prometheus text exposition (`# TYPE name kind` lines, and sample names). */
export function exportedMetrics(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) names.add(type[1]!);
    else if (line && !line.startsWith('#')) names.add(line.split(/[{ ]/)[0]!);
  }
  return names;
}

/**
 * The `expr:` values of a Prometheus rules file: plain one-line scalars, quoted ones, and `|` or
 * `>` block scalars. Throws when the count differs from the count of `alert:`/`record:` entries,
 * so an expression written some other way is never skipped unseen.
 */
export function ruleExpressions(yamlText: string): string[] {
  const lines = yamlText.split('\n');
  const exprs: string[] = [];
  let rules = 0;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (/^\s*-?\s*(alert|record):/.test(line)) rules += 1;
    const m = /^(\s*)(?:-\s*)?expr:\s*(.*)$/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    const value = m[2]!.trim();
    if (/^[|>][-+]?$/.test(value)) {
      const block: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > indent)) block.push(lines[(i += 1)]!);
      exprs.push(block.join('\n').trim());
    } else if (/^["']/.test(value)) {
      exprs.push(value.slice(1, -1).replace(/\\"/g, '"'));
    } else {
      exprs.push(value);
    }
  }
  if (exprs.length !== rules) throw new MetricNameError(`found ${exprs.length} expr: values for ${rules} rules: write each rule's expr on its own line or as a block scalar`);
  return exprs;
}

/** Every `expr` of a Grafana dashboard's panel targets (rows' nested panels included) and templating queries. */
export function dashboardExpressions(dashboard: unknown): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const d = dashboard as { panels?: unknown[]; templating?: { list?: { name?: string; query?: unknown }[] } };
  const visit = (panels: unknown[] | undefined) => {
    for (const p of panels ?? []) {
      const panel = p as { title?: string; targets?: { expr?: string }[]; panels?: unknown[] };
      for (const t of panel.targets ?? []) if (typeof t.expr === 'string') out.push({ where: `panel "${panel.title ?? '?'}"`, expr: t.expr });
      visit(panel.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const inner = q ? /^label_values\((.*),\s*\w+\)$/.exec(q)?.[1] : undefined;
    if (inner) out.push({ where: `variable "${v.name ?? '?'}"`, expr: inner });
  }
  return out;
}

/** Label names an expression matches on (`{label="…"}`) or groups by (`by (…)`, `on (…)`, …). */
export function expressionLabels(expr: string): string[] {
  if (expr.length > EXPRESSION_CHARS_MAX) throw new MetricNameError(`expression of ${expr.length} characters (at most ${EXPRESSION_CHARS_MAX})`);
  const text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const labels = new Set<string>();
  for (const m of text.matchAll(/\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const name = /^\s*([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/.exec(part)?.[1];
      if (name) labels.add(name);
    }
  }
  for (const m of text.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const name of m[1]!.split(',').map((l) => l.trim()).filter(Boolean)) labels.add(name);
  }
  return [...labels].sort();
}

/** Label names seen on each metric's samples (a histogram's `_bucket`/`_sum`/`_count` under its own name too). */
export function exportedLabels(exposition: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of exposition.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!m) continue;
    const set = out.get(m[1]!) ?? new Set<string>();
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_]\w*)="(?:[^"\\]|\\.)*"/g)) set.add(l[1]!);
    out.set(m[1]!, set);
  }
  return out;
}
