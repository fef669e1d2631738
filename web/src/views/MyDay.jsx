// "My day" (/board/my): a technician's open work on one phone screen. Their tasks by
// due date, overdue first; on each row the status to change in one tap, and a call
// button with the client's phone (the person who asked). On a phone it is where a
// member lands; from the board it is one link away.
import { isClosed, me, settings } from '../api.js';
import { formatDate, priorityLabel, statusLabel, t } from '../i18n.js';
import { loaded, tasks } from '../live.js';
import { canMove, nameOf, phoneOf } from '../people.js';
import { Link, navigate } from '../router.jsx';
import { isOverdue, moveTask } from './Board.jsx';
import { pendingFor } from '../offline.js';

/** Overdue first, then by due date (undated last), then priority, then number. */
const RANK = { critical: 0, high: 1, medium: 2, low: 3 };
export function byDay(a, b) {
  return (isOverdue(b) - isOverdue(a))
    || (a.due_date || '9999').localeCompare(b.due_date || '9999')
    || (RANK[a.priority] ?? 9) - (RANK[b.priority] ?? 9)
    || a.id - b.id;
}

function Row({ task }) {
  const overdue = isOverdue(task);
  const phone = phoneOf(task.created_by);
  return (
    <li class={`day-row${overdue ? ' overdue' : ''}`} data-task-id={task.id}>
      <div class="day-main">
        <Link to={`/tasks/${task.id}`} class="title">{task.title}</Link>
        <div class="meta">
          <span class="id">#{task.id}</span>
          <span class="priority" data-priority={task.priority}>{priorityLabel(task.priority)}</span>
          {task.due_date && <span class={`due${overdue ? ' late' : ''}`}>{formatDate(task.due_date)}{overdue ? ` · ${t('board.overdue')}` : ''}</span>}
          {task.created_by != null && <span class="client">{nameOf(task.created_by)}</span>}
          {pendingFor(task.id).some((p) => p.kind === 'status') && <span class="waiting" data-pending={task.id}>{t('offline.pending')}</span>}
        </div>
      </div>
      <div class="day-actions">
        <select aria-label={t('my.status', { title: task.title })} data-status-of={task.id} value={task.status}
          disabled={!canMove(task)} onChange={(e) => moveTask(task.id, e.target.value)}>
          {settings.statuses.map((s) => <option value={s}>{statusLabel(s)}</option>)}
        </select>
        {phone && (
          <a class="call" href={`tel:${phone.replace(/[^0-9+]/g, '')}`} data-call={task.id}
            aria-label={t('my.call', { name: nameOf(task.created_by) })}>{t('my.callShort')}</a>
        )}
      </div>
    </li>
  );
}

export function MyDay() {
  if (!loaded.value) return <p class="loading">{t('app.loading')}</p>;
  const mine = [...tasks.value.values()]
    .filter((task) => task.assigned_to === me.value?.id && !isClosed(task.status))
    .sort(byDay);
  const late = mine.filter(isOverdue).length;
  return (
    <main class="page my-day">
      <h1>{t('my.title')}</h1>
      <p class="hint" data-my-count={mine.length}>
        {t('my.summary', { n: mine.length })}{late ? ` · ${t('my.late', { n: late })}` : ''}
      </p>
      {mine.length === 0 && <p class="empty">{t('my.none')}</p>}
      <ul class="day-list">{mine.map((task) => <Row key={task.id} task={task} />)}</ul>
      <p>
        <a href="/board/?mine=1" onClick={(e) => { e.preventDefault(); navigate('/', { query: new URLSearchParams('mine=1') }); }}>
          {t('my.board')}
        </a>
      </p>
    </main>
  );
}
