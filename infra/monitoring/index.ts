/** Checks of the monitoring files (dashboard, alert rules) against the metrics the services export. */
export { seriesNames, baseMetric, exportedMetrics, exportedLabels, expressionLabels, ruleExpressions, dashboardExpressions, MetricNameError, EXPRESSION_CHARS_MAX } from './metric-names.js';
