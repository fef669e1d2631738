// The board: a column per status, a card per task, filters kept in the URL. A card
// moves by dragging (SortableJS does the gesture only: the DOM move is undone and the
// state decides), by its "Move to…" menu, or by Shift+←/→; each move is a PATCH with the
// ETag the board was shown, so a stale move is answered 412 and put back.
import { Component } from 'preact';
import { signal } from '@preact/signals';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import Sortable from 'sortablejs';
import { api, isClosed, me, settings } from '../api.js';
import { formatDate, priorityLabel, statusLabel, t } from '../i18n.js';
import { checklistProgress, commentCounts, etags, hold, lastChange, loaded, put, ratings, release, tasks } from '../live.js';
import { say, sayError } from '../notice.js';
import { keep, pendingFor, unreachable } from '../offline.js';
import { canCreate, canMove, directory, isClient, nameOf } from '../people.js';
import { Link, navigate, route, setQuery } from '../router.jsx';

const PRIORITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3 };

/** What became of a change made offline, once the network is back (offline.js). */
export async function settlePending({ change, task, etag, error }) {
  if (!error) {
    if (task) put(task, etag);
    return;
  }
  try {
    const { data, etag: current } = await api('GET', `/api/tasks/${change.task_id}`);
    put(data, current);
  } catch {
    // Gone, or no longer visible: the live feed says so.
  }
  if (error.status === 412) {
    say(t('offline.conflict', { id: change.task_id, status: statusLabel(change.status) }), 'error');
  } else {
    sayError(error);
  }
}

/** Done or cancelled and untouched for `tasks.archive_after_days`: off the columns
 * unless "Show archived" is ticked (the files keep everything). */
export function isArchived(task) {
  const days = settings.archive_after_days ?? 14;
  return days > 0 && isClosed(task.status) && !!task.updated_at && Date.now() - Date.parse(task.updated_at) > days * 86400e3;
}

/** Late: open, and past `due_at`, the moment its due date passes as the server counts
 * it (the live feed carries it; a date alone ends at midnight in the team's zone). */
export function isOverdue(task) {
  return !!task.due_at && !isClosed(task.status) && Date.parse(task.due_at) <= Date.now();
}

function readFilters(q) {
  return {
    assignee: q.get('assignee') || '',
    priority: q.get('priority') || '',
    text: (q.get('q') || '').trim().toLowerCase(),
    mine: q.has('mine'),
    overdue: q.has('overdue'),
    archived: q.has('archived'),
    list: q.get('view') === 'list',
  };
}

/** The tasks whose description has the filter's text: cards carry no description, so
 * the server searches it (`q`), a moment after the typing stops. */
const textHits = signal({ text: '', ids: new Set() });
let searchTimer;
function searchDescriptions(text) {
  clearTimeout(searchTimer);
  if (!text || textHits.value.text === text) return;
  searchTimer = setTimeout(async () => {
    try {
      const { data } = await api('GET', `/api/tasks?q=${encodeURIComponent(text)}&fields=id&per_page=500`);
      textHits.value = { text, ids: new Set(data.items.map((x) => x.id)) };
    } catch {
      // The titles still match; a failed search leaves it at that.
    }
  }, 250);
}

function matches(f) {
  const myId = me.value?.id;
  return (task) => {
    if (f.assignee === 'none' && task.assigned_to != null) return false;
    if (f.assignee && f.assignee !== 'none' && String(task.assigned_to) !== f.assignee) return false;
    if (f.priority && task.priority !== f.priority) return false;
    if (f.mine && task.assigned_to !== myId && task.created_by !== myId) return false;
    if (f.overdue && !isOverdue(task)) return false;
    if (!f.archived && isArchived(task)) return false;
    if (f.text) {
      const hay = `#${task.id} ${task.title || ''} ${task.description || ''}`.toLowerCase();
      const found = textHits.value.text === f.text && textHits.value.ids.has(task.id);
      if (!hay.includes(f.text) && !found) return false;
    }
    return true;
  };
}

const order = (a, b) =>
  (PRIORITY_ORDER[a.priority] ?? 9) - (PRIORITY_ORDER[b.priority] ?? 9)
  || (a.due_date || '9999').localeCompare(b.due_date || '9999')
  || a.id - b.id;

/** Who changed task `id` last, in words, for a stale move's message. */
async function whoChanged(id) {
  let change = lastChange.get(id);
  try {
    const { data } = await api('GET', `/api/tasks/${id}/history?per_page=500`);
    const last = data.items[data.items.length - 1];
    if (last) change = { actor: last.user_id, source: last.source };
  } catch {
    // The feed's memory of the change is enough to name someone.
  }
  const who = change?.actor != null ? nameOf(change.actor) : t('history.someone');
  return { who, source: t(`source.${change?.source || 'api'}`) };
}

let focusAfterMove = null;

/** The move of each task still on its way: a second move waits for the first, so that
 * it is sent with the version the first one made (not refused as stale). */
const inFlight = new Map();

/** Moves task `id` to `status` against the version the board shows. */
export function moveTask(id, status) {
  const previous = inFlight.get(id) || Promise.resolve();
  const move = previous.then(() => sendMove(id, status));
  inFlight.set(id, move);
  move.finally(() => inFlight.get(id) === move && inFlight.delete(id));
  return move;
}

async function sendMove(id, status) {
  const task = tasks.value.get(id);
  if (!task || task.status === status) return;
  let etag = etags.get(id);
  try {
    if (!etag) etag = (await api('GET', `/api/tasks/${id}`)).etag;
    put({ ...task, status });
    const { data, etag: fresh } = await api('PATCH', `/api/tasks/${id}`, { body: { status }, etag });
    put(data, fresh);
    say(t('board.moved', { id, status: statusLabel(status) }));
  } catch (e) {
    if (unreachable(e) && etag) {
      // No network: the move stays on the board, marked, and goes when it is back.
      keep({ kind: 'status', task_id: id, status, etag });
      put({ ...task, status });
      say(t('offline.kept'));
      return;
    }
    if (e.status === 412) {
      const { data, etag: current } = await api('GET', `/api/tasks/${id}`);
      put(data, current);
      const { who, source } = await whoChanged(id);
      say(t('board.stale', { id, who, source }), 'error');
    } else {
      put(task);
      sayError(e);
    }
  }
}

function MoveMenu({ task, onClose }) {
  const ref = useRef();
  useEffect(() => {
    ref.current?.querySelector('button')?.focus();
    const away = (e) => !ref.current?.contains(e.target) && onClose();
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, []);
  const choose = (s) => {
    onClose();
    focusAfterMove = task.id;
    moveTask(task.id, s);
  };
  return (
    <div class="menu" role="menu" ref={ref} aria-label={t('board.moveTo', { title: task.title })}
      onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), onClose())}>
      {settings.statuses.filter((s) => s !== task.status).map((s) => (
        <button type="button" role="menuitem" data-move-to={s} onClick={() => choose(s)}>{statusLabel(s)}</button>
      ))}
    </div>
  );
}

/** One card; re-renders only when its task, count or menu state changed. */
class Card extends Component {
  shouldComponentUpdate(next, nextState) {
    return next.task !== this.props.task || next.comments !== this.props.comments || next.rating !== this.props.rating
      || next.steps !== this.props.steps
      || nextState.menu !== this.state.menu || next.names !== this.props.names || next.lang !== this.props.lang
      || next.waiting !== this.props.waiting;
  }

  render({ task, comments, rating, waiting, steps }, { menu }) {
    const movable = canMove(task);
    const overdue = isOverdue(task);
    const key = (e) => {
      if (e.target !== e.currentTarget) return;
      const i = settings.statuses.indexOf(task.status);
      if (e.shiftKey && (e.key === 'ArrowRight' || e.key === 'ArrowLeft') && movable) {
        e.preventDefault();
        const to = settings.statuses[i + (e.key === 'ArrowRight' ? 1 : -1)];
        if (to) {
          focusAfterMove = task.id;
          moveTask(task.id, to);
        }
      } else if ((e.key === 'm' || e.key === 'M') && movable) {
        e.preventDefault();
        this.setState({ menu: true });
      } else if (e.key === 'Enter') {
        navigate(`/tasks/${task.id}`);
      }
    };
    return (
      <li class={`card priority-${task.priority}${movable ? '' : ' locked'}${overdue ? ' overdue' : ''}${waiting ? ' pending' : ''}`}
        data-task-id={task.id} tabIndex={0} onKeyDown={key} aria-label={task.title}>
        <Link to={`/tasks/${task.id}`} class="title" tabIndex={-1}>{task.title}</Link>
        <div class="meta">
          <span class="id">#{task.id}</span>
          <span class="priority" data-priority={task.priority}>{priorityLabel(task.priority)}</span>
          {task.assigned_to != null && <span class="assignee">{nameOf(task.assigned_to)}</span>}
          {task.due_date && (
            <span class={`due${overdue ? ' late' : ''}`} title={overdue ? t('board.overdue') : ''}>
              {formatDate(task.due_date)}{overdue ? ` · ${t('board.overdue')}` : ''}
            </span>
          )}
          {comments > 0 && <span class="comments">{t('board.comments', { n: comments })}</span>}
          {steps && steps.total > 0 && (
            <span class={`steps${steps.done === steps.total ? ' complete' : ''}`} data-steps={`${steps.done}/${steps.total}`}
              title={t('checklist.title')}>☑ {steps.done}/{steps.total}</span>
          )}
          {rating != null && <span class="rating" data-rating={rating} title={t('task.rating')}>{stars(rating)}</span>}
          {waiting && <span class="waiting" data-pending={task.id}>{t('offline.pending')}</span>}
        </div>
        {movable && (
          <button type="button" class="move" aria-haspopup="menu" aria-expanded={!!menu}
            onClick={() => this.setState({ menu: !menu })}>{t('board.move')}</button>
        )}
        {menu && <MoveMenu task={task} onClose={() => this.setState({ menu: false })} />}
      </li>
    );
  }
}

/** Cards a column draws at first, and how many more each time its end scrolls into
 * view: a column of 500 cards draws 60 until someone scrolls (first render and a
 * filter change stay fast); the count in the header is always the whole. */
const FIRST_CARDS = 60;
const MORE_CARDS = 200;

/** A rating as five stars, filled as many as it is. */
export const stars = (n) => '★'.repeat(n) + '☆'.repeat(5 - n);

function Column({ status, items, counts, rates, steps, names, lang }) {
  const list = useRef();
  const end = useRef();
  const [limit, setLimit] = useState(FIRST_CARDS);
  useEffect(() => {
    if (!end.current) return undefined;
    const seen = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setLimit((l) => l + MORE_CARDS), { root: list.current });
    seen.observe(end.current);
    return () => seen.disconnect();
  }, [items.length > limit, limit]);
  // A card just moved by keyboard is drawn even beyond the limit, so that focus can follow it.
  const drawn = items.length > limit ? items.filter((task, i) => i < limit || task.id === focusAfterMove) : items;
  useEffect(() => {
    const sortable = Sortable.create(list.current, {
      group: 'tasks',
      sort: false,
      draggable: '.card',
      filter: '.locked, .menu, button',
      preventOnFilter: false,
      animation: 120,
      delay: 150,
      delayOnTouchOnly: true,
      onStart: hold,
      onEnd: (evt) => {
        const id = Number(evt.item.dataset.taskId);
        const to = evt.to.closest('[data-status]')?.dataset.status;
        if (evt.from !== evt.to) {
          // Give the DOM back to Preact: the card moves when the state says so.
          evt.to.removeChild(evt.item);
          evt.from.insertBefore(evt.item, evt.from.children[evt.oldIndex] || null);
        }
        release();
        if (evt.from !== evt.to && to) moveTask(id, to);
      },
    });
    return () => sortable.destroy();
  }, []);
  return (
    <section class="column" data-status={status} aria-label={statusLabel(status)}>
      <h2>{statusLabel(status)} <span class="count">{items.length}</span></h2>
      <ul ref={list} class="cards">
        {drawn.map((task) => (
          <Card key={task.id} task={task} comments={counts.get(task.id) || 0} rating={rates.get(task.id)} steps={steps.get(task.id)} names={names} lang={lang}
            waiting={pendingFor(task.id).some((p) => p.kind === 'status')} />
        ))}
        {items.length > drawn.length && (
          <li class="more" ref={end}>{t('board.more', { n: items.length - drawn.length })}</li>
        )}
      </ul>
    </section>
  );
}

function Filters({ f, shown, total, archived }) {
  const names = [...directory.value.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  const [text, setText] = useState(f.text);
  useEffect(() => {
    const timer = setTimeout(() => text.trim().toLowerCase() !== f.text && setQuery('q', text.trim()), 150);
    return () => clearTimeout(timer);
  }, [text]);
  const any = f.assignee || f.priority || f.text || f.mine || f.overdue;
  return (
    <div class="filters" role="search">
      <input type="search" name="q" placeholder={t('filter.text')} aria-label={t('filter.text')} value={text}
        onInput={(e) => setText(e.target.value)} />
      {!isClient() && (
        <select name="assignee" aria-label={t('filter.assignee')} value={f.assignee} onChange={(e) => setQuery('assignee', e.target.value)}>
          <option value="">{t('filter.assignee')}: {t('filter.anyone')}</option>
          <option value="none">{t('filter.unassigned')}</option>
          {names.map(([id, name]) => <option value={String(id)}>{name}</option>)}
        </select>
      )}
      <select name="priority" aria-label={t('filter.priority')} value={f.priority} onChange={(e) => setQuery('priority', e.target.value)}>
        <option value="">{t('filter.priority')}: {t('filter.any')}</option>
        {settings.priorities.map((p) => <option value={p}>{priorityLabel(p)}</option>)}
      </select>
      {me.value?.id != null && (
        <label class="check"><input type="checkbox" name="mine" checked={f.mine} onChange={(e) => setQuery('mine', e.target.checked)} />{t('filter.mine')}</label>
      )}
      <label class="check"><input type="checkbox" name="overdue" checked={f.overdue} onChange={(e) => setQuery('overdue', e.target.checked)} />{t('filter.overdue')}</label>
      {(archived > 0 || f.archived) && (
        <label class="check"><input type="checkbox" name="archived" checked={f.archived} onChange={(e) => setQuery('archived', e.target.checked)} />{t('filter.archived', { n: archived })}</label>
      )}
      {any && <button type="button" class="link" onClick={() => { setText(''); navigate('/', { query: new URLSearchParams(), replace: true }); }}>{t('filter.clear')}</button>}
      <span class="shown" data-shown={shown}>{t('filter.shown', { shown, total })}</span>
      {canCreate() && <button type="button" class="primary" onClick={() => navigate('/new')}>{t('board.new')}</button>}
    </div>
  );
}

/** Rows a list draws at once (the count says how many more the filter holds). */
const LIST_LIMIT = 500;

/** Any filter as a list: one line per task, sorted as the columns sort, the status to
 * change in place. What a phone reads more easily than columns. */
function TaskList({ items, more }) {
  return (
    <div class="table-scroll">
      <table class="numbers task-list">
        <thead><tr>
          <th>#</th><th>{t('task.title')}</th><th>{t('task.status')}</th><th>{t('task.priority')}</th>
          <th>{t('task.assigned_to')}</th><th>{t('task.due_date')}</th>
        </tr></thead>
        <tbody>
          {items.map((task) => (
            <tr data-task-id={task.id} class={isOverdue(task) ? 'overdue' : ''}>
              <td>{task.id}</td>
              <td><Link to={`/tasks/${task.id}`}>{task.title}</Link></td>
              <td>
                <select aria-label={t('my.status', { title: task.title })} data-status-of={task.id} value={task.status}
                  disabled={!canMove(task)} onChange={(e) => moveTask(task.id, e.target.value)}>
                  {settings.statuses.map((st) => <option value={st}>{statusLabel(st)}</option>)}
                </select>
              </td>
              <td>{priorityLabel(task.priority)}</td>
              <td>{task.assigned_to != null ? nameOf(task.assigned_to) : '—'}</td>
              <td class={isOverdue(task) ? 'late' : ''}>{task.due_date ? formatDate(task.due_date) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {more > 0 && <p class="hint">{t('board.listMore', { n: more })}</p>}
    </div>
  );
}

export function Board() {
  const f = readFilters(route.value.query);
  useEffect(() => searchDescriptions(f.text), [f.text]);
  const all = [...tasks.value.values()];
  const shown = all.filter(matches(f)).sort(order);
  const statuses = [...settings.statuses, ...new Set(all.map((x) => x.status).filter((s) => !settings.statuses.includes(s)))];
  const columns = new Map(statuses.map((s) => [s, []]));
  for (const task of shown) columns.get(task.status)?.push(task);
  // In the same commit as the move, so that the next key already reaches the card.
  useLayoutEffect(() => {
    if (focusAfterMove == null) return;
    const card = document.querySelector(`[data-task-id="${focusAfterMove}"]`);
    if (!card || card.closest('[data-status]')?.dataset.status !== tasks.value.get(focusAfterMove)?.status) return;
    card.focus();
    focusAfterMove = null;
  });
  if (!loaded.value) return <p class="loading">{t('app.loading')}</p>;
  // On a phone (a column per screen) a filtered board skips its empty columns, so that
  // "Mine" shows a technician's jobs, not an empty first column.
  const narrow = matchMedia('(max-width: 640px)').matches;
  const filtered = !!(f.assignee || f.priority || f.text || f.mine || f.overdue);
  return (
    <main class="board-page">
      {isClient() && <h1 class="page-title">{t('board.myRequests')}</h1>}
      <Filters f={f} shown={shown.length} total={all.length} archived={all.filter(isArchived).length} />
      <p class="view-switch">
        <button type="button" class="link" aria-pressed={!f.list} onClick={() => setQuery('view', '')}>{t('board.columnsView')}</button>
        <button type="button" class="link" aria-pressed={f.list} onClick={() => setQuery('view', 'list')}>{t('board.listView')}</button>
      </p>
      {f.list ? <TaskList items={shown.slice(0, LIST_LIMIT)} more={shown.length - LIST_LIMIT} /> : (
        <>
          <p class="hint">{t('board.keys')}</p>
          <div class="columns">
            {statuses.filter((s) => !(narrow && filtered && columns.get(s).length === 0)).map((s) => (
              <Column key={s} status={s} items={columns.get(s)} counts={commentCounts.value} rates={ratings.value} steps={checklistProgress.value} names={directory.value} lang={document.documentElement.lang} />
            ))}
          </div>
        </>
      )}
    </main>
  );
}
