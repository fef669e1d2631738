// Recurring work, for those who hand work out (managers, admins): each row makes a
// task at every occurrence of its schedule (a crontab line in the team's time zone);
// the page shows the next occurrences the server computes, so what it says is what
// will happen.
import { useEffect, useState } from 'preact/hooks';
import { api, listAll, settings } from '../api.js';
import { formatDate, priorityLabel, t } from '../i18n.js';
import { directory, nameOf } from '../people.js';
import { Page, useLoaded } from './Admin.jsx';

function Next({ id, version }) {
  const [items, setItems] = useState(null);
  useEffect(() => {
    api('GET', `/api/recurring/${id}/occurrences?count=3`).then(({ data }) => setItems(data.items), () => setItems([]));
  }, [id, version]);
  if (!items) return null;
  return (
    <ul class="next" data-next={id}>
      {items.map((o) => <li>{formatDate(o.at)} → {t('recurring.due', { date: formatDate(o.due_date) })}</li>)}
    </ul>
  );
}

export function Recurring() {
  const { data, error, act } = useLoaded(() => listAll('/api/recurring'));
  const create = (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { title: f.title.value.trim(), schedule: f.schedule.value.trim(), due_in_days: Number(f.due_in_days.value || 0), priority: f.priority.value };
    if (f.assigned_to.value) body.assigned_to = Number(f.assigned_to.value);
    act(async () => {
      await api('POST', '/api/recurring', { body });
      f.reset();
    }, t('recurring.saved'));
  };
  const patch = (r, body) => act(() => api('PATCH', `/api/recurring/${r.id}`, { body }), t('recurring.saved'));
  const remove = (r) => {
    if (confirm(t('recurring.confirmDelete', { title: r.title }))) act(() => api('DELETE', `/api/recurring/${r.id}`), t('recurring.deleted'));
  };
  const people = [...directory.value.entries()];
  return (
    <Page title={t('recurring.title')} error={error}>
      <p class="hint">{t('recurring.hint')}</p>
      <form class="inline-form recurring-form" onSubmit={create}>
        <input name="title" placeholder={t('task.title')} aria-label={t('task.title')} required maxLength={200} />
        <input name="schedule" placeholder="0 9 1 * *" aria-label={t('recurring.schedule')} required pattern="\S+(\s+\S+){4}" />
        <input name="due_in_days" type="number" min="0" value="0" aria-label={t('recurring.dueInDays')} title={t('recurring.dueInDays')} />
        <select name="priority" aria-label={t('task.priority')}>
          {settings.priorities.map((p) => <option value={p} selected={p === 'medium'}>{priorityLabel(p)}</option>)}
        </select>
        <select name="assigned_to" aria-label={t('task.assigned_to')}>
          <option value="">{t('recurring.nobody')}</option>
          {people.map(([id, name]) => <option value={id}>{name}</option>)}
        </select>
        <button type="submit" class="primary">{t('recurring.add')}</button>
      </form>
      {data && data.length === 0 && <p class="hint">{t('recurring.none')}</p>}
      <ul class="recurring-list">
        {(data || []).map((r) => (
          <li data-recurring={r.id} class={r.is_active === false ? 'paused' : ''}>
            <strong>{r.title}</strong> <code>{r.schedule}</code>
            <span class="meta">
              {priorityLabel(r.priority)}{r.assigned_to != null ? ` · ${nameOf(r.assigned_to)}` : ''}
              {` · ${t('recurring.dueIn', { n: r.due_in_days || 0 })}`}
              {r.last_run_at ? ` · ${t('recurring.last', { at: formatDate(r.last_run_at) })}` : ''}
            </span>
            {r.is_active !== false && <Next id={r.id} version={r.updated_at} />}
            <span class="tools">
              <button type="button" class="link" onClick={() => patch(r, { is_active: r.is_active === false })}>
                {r.is_active === false ? t('jobs.resume') : t('jobs.pause')}
              </button>
              <button type="button" class="link" onClick={() => {
                const schedule = prompt(t('recurring.schedule'), r.schedule);
                if (schedule) patch(r, { schedule });
              }}>{t('jobs.change')}</button>
              <button type="button" class="link danger" onClick={() => remove(r)}>{t('task.remove')}</button>
            </span>
          </li>
        ))}
      </ul>
    </Page>
  );
}
