// Statistics from GET /api/stats: charts drawn by uPlot (bars for counts by status and
// assignee, lines for the days), and the same numbers as tables.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { api, settings } from '../api.js';
import { formatDate, formatNumber, lang, statusLabel, t } from '../i18n.js';
import { directory, nameOf } from '../people.js';
import { fieldLabel } from './TaskDialog.jsx';

const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c'];

function Chart({ name, options, data }) {
  const box = useRef();
  useEffect(() => {
    const width = Math.max(280, Math.min(box.current.clientWidth || 600, 900));
    const plot = new uPlot({ width, height: 220, ...options }, data, box.current);
    return () => plot.destroy();
  }, [JSON.stringify(data), lang.value]);
  return <div class="chart" data-chart={name} ref={box} />;
}

/** Counts start at zero: a bar's height is its number, not its distance from the
 * smallest one. */
const fromZero = (_, _min, max) => [0, max > 0 ? Math.ceil(max * 1.1) : 1];

/** The `n` largest entries, the rest summed into one named `others`. */
export function topWithOthers(entries, n, others) {
  const sorted = [...entries].sort((a, b) => b[1] - a[1]);
  if (sorted.length <= n + 1) return sorted;
  const rest = sorted.slice(n).reduce((sum, [, count]) => sum + count, 0);
  return [...sorted.slice(0, n), [others, rest]];
}

/** Counts by label as bars: x is the label's index, the axis shows the label. */
function Bars({ name, entries, label }) {
  const xs = entries.map((_, i) => i);
  const options = {
    scales: { x: { time: false, range: [-0.5, Math.max(entries.length - 0.5, 0.5)] }, y: { range: fromZero } },
    axes: [
      { values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) && entries[i] ? entries[i][0] : '')), splits: () => xs },
      { values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? formatNumber(v) : '')) },
    ],
    series: [{}, { label, fill: `${COLORS[0]}99`, stroke: COLORS[0], paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
    legend: { show: false },
  };
  return <Chart name={name} options={options} data={[xs, entries.map((e) => e[1])]} />;
}

/** Series by day as lines. */
function Days({ name, days, series }) {
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const options = {
    scales: { x: { time: true }, y: { range: fromZero } },
    axes: [{}, { values: (_, ticks) => ticks.map((v) => (Number.isInteger(v) ? formatNumber(v) : '')) }],
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i + 1], width: 2 }))],
  };
  return <Chart name={name} options={options} data={[xs, ...series.map((s) => days.map((d) => s.values[d] || 0))]} />;
}

/** Every day from the first with a figure (at most 90 days back) to today, so that a
 * quiet day shows as a zero and not as a gap. */
function dayRange(keys) {
  const today = new Date().toISOString().slice(0, 10);
  const first = keys.length ? keys.reduce((a, b) => (a < b ? a : b)) : today;
  const start = Math.max(Date.parse(`${first}T00:00:00Z`), Date.parse(`${today}T00:00:00Z`) - 89 * 86400e3);
  const days = [];
  for (let at = start; at <= Date.parse(`${today}T00:00:00Z`); at += 86400e3) days.push(new Date(at).toISOString().slice(0, 10));
  if (days.length < 7) {
    // A few days of history still get a week's axis.
    let at = Date.parse(`${days[0]}T00:00:00Z`);
    while (days.length < 7) days.unshift(new Date((at -= 86400e3)).toISOString().slice(0, 10));
  }
  return days;
}

function Table({ head, rows }) {
  return (
    <table class="numbers">
      <thead><tr>{head.map((h) => <th>{h}</th>)}</tr></thead>
      <tbody>{rows.map((r) => <tr>{r.map((c, i) => <td class={i ? 'num' : ''}>{c}</td>)}</tr>)}</tbody>
    </table>
  );
}

export function Stats() {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  // The tasks counted: created between these days (empty: open-ended), and a team's
  // own column to count by.
  const [ask, setAsk] = useState({ since: '', until: '', group_by: '' });
  useEffect(() => {
    const q = new URLSearchParams(Object.entries(ask).filter(([, v]) => v));
    api('GET', `/api/stats${q.toString() ? `?${q}` : ''}`).then(({ data }) => { setStats(data); setError(null); }, setError);
  }, [ask.since, ask.until, ask.group_by]);
  const change = (e) => setAsk({ ...ask, [e.target.name]: e.target.value });
  const controls = (
    <form class="inline-form stats-range" onSubmit={(e) => e.preventDefault()}>
      <label>{t('stats.since')} <input type="date" name="since" value={ask.since} onChange={change} /></label>
      <label>{t('stats.until')} <input type="date" name="until" value={ask.until} onChange={change} /></label>
      {(settings.fields || []).length > 0 && (
        <label>{t('stats.groupBy')} <select name="group_by" value={ask.group_by} onChange={change}>
          <option value="">—</option>
          {settings.fields.map((f) => <option value={f.name}>{fieldLabel(f.name)}</option>)}
        </select></label>
      )}
    </form>
  );
  if (error) return <main class="page"><h1>{t('stats.title')}</h1>{controls}<p class="error" role="alert">{error.message}</p></main>;
  if (!stats) return <main class="page"><p class="loading">{t('app.loading')}</p></main>;
  directory.value; // names arrive after the numbers, sometimes
  // In the board's order of statuses, a team's unknown ones after.
  const statusOrder = [...settings.statuses, ...Object.keys(stats.by_status).filter((s) => !settings.statuses.includes(s))];
  const byStatus = statusOrder.filter((s) => s in stats.by_status).map((s) => [statusLabel(s), stats.by_status[s]]);
  // A hundred technicians would draw as one block: the ten busiest, the rest together.
  const byAssignee = topWithOthers(
    Object.entries(stats.by_assignee).map(([id, n]) => [id === 'unassigned' ? t('filter.unassigned') : nameOf(Number(id)), n]),
    10, t('stats.others'));
  const days = dayRange([...Object.keys(stats.created_per_day), ...Object.keys(stats.completed_per_day)]);
  const overdueDays = Object.keys(stats.overdue_per_day || {}).sort();
  return (
    <main class="page stats">
      <h1>{t('stats.title')}</h1>
      {controls}
      <p class="figures">
        <span>{t('stats.total')}: <strong data-figure="total">{formatNumber(stats.total)}</strong></span>
        <span>{t('stats.overdueNow')}: <strong data-figure="overdue">{formatNumber(stats.overdue)}</strong></span>
        <span>{t('stats.mean')}: <strong data-figure="mean">{stats.mean_hours_to_complete == null ? '—' : t('stats.hours', { n: formatNumber(stats.mean_hours_to_complete, 1) })}</strong></span>
      </p>
      <div class="charts">
        <section><h2>{t('stats.byStatus')}</h2><Bars name="by-status" entries={byStatus} label={t('stats.count')} />
          <Table head={[t('task.status'), t('stats.count')]} rows={byStatus.map(([s, n]) => [s, formatNumber(n)])} /></section>
        <section><h2>{t('stats.byAssignee')}</h2><Bars name="by-assignee" entries={byAssignee} label={t('stats.count')} />
          <Table head={[t('task.assigned_to'), t('stats.count')]} rows={byAssignee.map(([s, n]) => [s, formatNumber(n)])} /></section>
        <section><h2>{t('stats.people')}</h2>
          <Table head={[t('task.assigned_to'), t('stats.count'), t('stats.done'), t('stats.rating')]}
            rows={Object.entries(stats.by_assignee).filter(([id]) => id !== 'unassigned')
              .sort((a, b) => (stats.done_by_assignee?.[b[0]] || 0) - (stats.done_by_assignee?.[a[0]] || 0))
              .map(([id, n]) => {
                const r = stats.rating_by_assignee?.[id];
                return [nameOf(Number(id)), formatNumber(n), formatNumber(stats.done_by_assignee?.[id] || 0),
                  r ? `${formatNumber(r.mean, 1)} (${formatNumber(r.count)})` : '—'];
              })} /></section>
        {stats.by_field && Object.entries(stats.by_field).map(([name, counts]) => {
          const entries = Object.entries(counts).map(([v, n]) => [v || '—', n]).sort((a, b) => b[1] - a[1]);
          return (
            <section data-by-field={name}><h2>{t('stats.byField', { field: fieldLabel(name) })}</h2>
              <Bars name={`by-${name}`} entries={topWithOthers(entries, 10, t('stats.others'))} label={t('stats.count')} />
              <Table head={[fieldLabel(name), t('stats.count')]} rows={entries.map(([v, n]) => [v, formatNumber(n)])} /></section>
          );
        })}
        <section><h2>{t('stats.perDay')}</h2>
          <Days name="per-day" days={days} series={[{ label: t('stats.created'), values: stats.created_per_day }, { label: t('stats.completed'), values: stats.completed_per_day }]} />
          <Table head={[t('stats.day'), t('stats.created'), t('stats.completed')]}
            rows={days.filter((d) => stats.created_per_day[d] || stats.completed_per_day[d]).slice(-7).map((d) => [formatDate(d), formatNumber(stats.created_per_day[d] || 0), formatNumber(stats.completed_per_day[d] || 0)])} /></section>
        <section><h2>{t('stats.overdue')}</h2>
          <Days name="overdue" days={overdueDays} series={[{ label: t('filter.overdue'), values: stats.overdue_per_day || {} }]} />
          <Table head={[t('stats.day'), t('stats.count')]} rows={overdueDays.slice(-7).map((d) => [formatDate(d), formatNumber(stats.overdue_per_day[d])])} /></section>
      </div>
    </main>
  );
}
