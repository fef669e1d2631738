// Tasks by due date: a month or a week (on a phone, the week as a list of days). A card
// dragged to another day is re-dated (for those the server lets change the due date,
// with If-Match); "Subscribe" gives a secret link for the phone's own calendar.
import { useEffect, useRef, useState } from 'preact/hooks';
import Sortable from 'sortablejs';
import { api, isClosed } from '../api.js';
import { formatDate, lang, t } from '../i18n.js';
import { etags, hold, put, release, tasks } from '../live.js';
import { say, sayError } from '../notice.js';
import { canEdit } from '../people.js';
import { Link, route, setQuery } from '../router.jsx';
import { isOverdue } from './Board.jsx';

const DAY = 86400e3;
const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
const parse = (s) => {
  const [y, m, d] = (s || '').split('-').map(Number);
  return y && m && d ? new Date(y, m - 1, d) : new Date();
};
/** Monday of the week of `d`. */
const monday = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate() - ((d.getDay() + 6) % 7));
const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);

/** The days a view shows: a week from Monday, or the month's weeks. */
function daysOf(view, at) {
  if (view === 'week') return Array.from({ length: 7 }, (_, i) => addDays(monday(at), i));
  const first = new Date(at.getFullYear(), at.getMonth(), 1);
  const start = monday(first);
  const last = new Date(at.getFullYear(), at.getMonth() + 1, 0);
  const weeks = Math.ceil((last - start) / DAY / 7 + 1 / 7);
  return Array.from({ length: weeks * 7 }, (_, i) => addDays(start, i));
}

/** Moves task `id` to day `day`, keeping a due date's time of day. */
async function redate(id, day) {
  const task = tasks.value.get(id);
  if (!task || !task.due_date || task.due_date.slice(0, 10) === day) return;
  const due_date = task.due_date.length > 10 ? `${day}${task.due_date.slice(10)}` : day;
  try {
    let etag = etags.get(id);
    if (!etag) etag = (await api('GET', `/api/tasks/${id}`)).etag;
    const { data, etag: fresh } = await api('PATCH', `/api/tasks/${id}`, { body: { due_date }, etag });
    put(data, fresh);
    say(t('calendar.moved', { id, date: formatDate(day) }));
  } catch (e) {
    sayError(e);
  }
}

function Day({ day, items, month }) {
  const list = useRef(null);
  useEffect(() => {
    const sortable = Sortable.create(list.current, {
      group: 'calendar',
      sort: false,
      draggable: '.entry:not(.locked)',
      delay: 150,
      delayOnTouchOnly: true,
      onStart: hold,
      onEnd: (evt) => {
        const to = evt.to.dataset.day;
        if (evt.from !== evt.to) {
          evt.to.removeChild(evt.item);
          evt.from.insertBefore(evt.item, evt.from.children[evt.oldIndex] || null);
        }
        release();
        if (evt.from !== evt.to && to) redate(Number(evt.item.dataset.taskId), to);
      },
    });
    return () => sortable.destroy();
  }, []);
  const date = iso(day);
  const today = date === iso(new Date());
  return (
    <section class={`day${today ? ' today' : ''}${month != null && day.getMonth() !== month ? ' other-month' : ''}`} aria-label={formatDate(date)}>
      <h3>{day.toLocaleDateString(lang.value, { weekday: 'short', day: 'numeric' })}</h3>
      <ul ref={list} data-day={date}>
        {items.map((task) => (
          <li key={task.id} data-task-id={task.id} class={`entry priority-${task.priority}${canEdit(task, 'due_date') ? '' : ' locked'}${isOverdue(task) ? ' overdue' : ''}`}>
            <Link to={`/tasks/${task.id}`}>#{task.id} {task.title}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Subscribe() {
  const [link, setLink] = useState(null);
  const make = async () => {
    try {
      const { data } = await api('POST', '/api/calendar/token');
      setLink(data.url);
    } catch (e) {
      sayError(e);
    }
  };
  return (
    <div class="subscribe">
      <button type="button" onClick={make} data-action="calendar-link">{t(link ? 'calendar.newLink' : 'calendar.subscribe')}</button>
      {link && (
        <p class="hint">
          {t('calendar.linkHint')} <input readOnly value={link} aria-label={t('calendar.subscribe')} data-calendar-link onFocus={(e) => e.target.select()} />
        </p>
      )}
    </div>
  );
}

export function Calendar() {
  const q = route.value.query;
  const view = q.get('view') === 'week' ? 'week' : 'month';
  const at = parse(q.get('date'));
  const days = daysOf(view, at);
  const byDay = new Map(days.map((d) => [iso(d), []]));
  for (const task of tasks.value.values()) {
    if (!task.due_date || isClosed(task.status)) continue;
    byDay.get(task.due_date.slice(0, 10))?.push(task);
  }
  for (const list of byDay.values()) list.sort((a, b) => (a.due_date < b.due_date ? -1 : a.due_date > b.due_date ? 1 : a.id - b.id));
  const step = (n) => setQuery('date', iso(view === 'week' ? addDays(at, 7 * n) : new Date(at.getFullYear(), at.getMonth() + n, 1)));
  const title = view === 'week'
    ? `${formatDate(iso(days[0]))} – ${formatDate(iso(days[6]))}`
    : at.toLocaleDateString(lang.value, { month: 'long', year: 'numeric' });
  return (
    <main class={`page calendar ${view}`}>
      <header class="calendar-head">
        <h1>{title}</h1>
        <span class="tools">
          <button type="button" onClick={() => step(-1)} aria-label={t('calendar.previous')}>‹</button>
          <button type="button" onClick={() => setQuery('date', '')}>{t('calendar.today')}</button>
          <button type="button" onClick={() => step(1)} aria-label={t('calendar.next')}>›</button>
          <button type="button" class="link" aria-pressed={view === 'month'} onClick={() => setQuery('view', '')}>{t('calendar.month')}</button>
          <button type="button" class="link" aria-pressed={view === 'week'} onClick={() => setQuery('view', 'week')}>{t('calendar.week')}</button>
        </span>
      </header>
      <p class="hint">{t('calendar.hint')}</p>
      <div class="days">
        {days.map((d) => <Day key={iso(d)} day={d} items={byDay.get(iso(d))} month={view === 'month' ? at.getMonth() : null} />)}
      </div>
      <Subscribe />
    </main>
  );
}
