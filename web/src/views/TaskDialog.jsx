// A task over the board (its own URL, /board/tasks/42), or the new-task form
// (/board/new): every field the caller may change, custom columns too; comments,
// documents, the history in words, and the AI analysis.
import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, authHeader, isClosed, isDone, me, settings } from '../api.js';
import { formatDate, formatNumber, lang, priorityLabel, statusLabel, t } from '../i18n.js';
import { checklistProgress, commentCounts, etags, onTaskChange, put, tasks } from '../live.js';
import { unreachable } from '../offline.js';
import { say, sayError } from '../notice.js';
import { canCreate, canDelete, canEdit, canMove, canSetOnCreate, canTake, directory, isClient, nameOf } from '../people.js';
import { navigate } from '../router.jsx';
import { stars } from './Board.jsx';
import { Checklist, keepAsChecklist } from './Checklist.jsx';
import { Comments } from './Comments.jsx';
import { Documents } from './Documents.jsx';

/** The documented columns; any other key of a task is a team's own (custom) column. */
const KNOWN = ['id', 'title', 'description', 'status', 'priority', 'assigned_to', 'created_by', 'due_date', 'created_at', 'updated_at', 'completed_at'];
const READ_ONLY = ['id', 'created_by', 'created_at', 'updated_at'];

function close() {
  navigate('/');
}

/** The form's values as the API takes them: ids as numbers, blanks as null. */
function fromForm(form, task) {
  const out = {};
  for (const [name, raw] of new FormData(form).entries()) {
    if (READ_ONLY.includes(name)) continue;
    const value = typeof raw === 'string' ? raw : '';
    let v = value;
    if (name === 'assigned_to') v = value === '' ? null : Number(value);
    else if ((name === 'description' || name === 'due_date') && value === '') v = null;
    const was = task ? task[name] : undefined;
    if (!task || (v ?? '') !== (was ?? '')) out[name] = v;
  }
  return out;
}

/** A field's name as people read it: the board's own words, a custom field's
 * configured label in this language, else the column's name. */
export function fieldLabel(name) {
  if (t(`task.${name}`) !== `task.${name}`) return t(`task.${name}`);
  const label = (settings.fields || []).find((f) => f.name === name)?.label || {};
  return label[lang.value] || label.en || label.ru || name;
}

function Field({ name, task, editable, children }) {
  return (
    <label class={`field field-${name}`}>
      <span>{fieldLabel(name)}</span>
      {editable ? children : <output name={name}>{children.props?.['data-shown'] ?? String(task?.[name] ?? '')}</output>}
    </label>
  );
}

/** A custom column's control: a list for an enum, a date or number input, else text. */
function CustomInput({ name, field, value }) {
  if (field?.type === 'enum') {
    return (
      <select name={name} value={value}>
        <option value="">—</option>
        {field.values.map((v) => <option value={v}>{v}</option>)}
      </select>
    );
  }
  if (field?.type === 'date') return <input name={name} type="date" value={value} />;
  if (field?.type === 'number') return <input name={name} inputMode="decimal" pattern="-?[0-9]+([.][0-9]+)?" value={value} />;
  return <input name={name} value={value} />;
}

function TaskForm({ task, etag, onSaved }) {
  const creating = !task;
  const may = (field) => (creating ? canSetOnCreate(field) : canEdit(task, field));
  // A team's own columns: the declared ones (drawn by their type) and any other the
  // file has (free text).
  const declared = settings.fields || [];
  const custom = [...new Set([...declared.map((f) => f.name), ...(task ? Object.keys(task).filter((k) => !KNOWN.includes(k)) : [])])];
  const declaredOf = (name) => declared.find((f) => f.name === name);
  const people = [...directory.value.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  const submit = async (e) => {
    e.preventDefault();
    const body = fromForm(e.target, task);
    try {
      if (creating) {
        const { data, etag: tag } = await api('POST', '/api/tasks', { body });
        put(data, tag);
        say(t('task.saved'));
        navigate(`/tasks/${data.id}`, { replace: true });
      } else if (Object.keys(body).length) {
        const { data, etag: tag } = await api('PATCH', `/api/tasks/${task.id}`, { body, etag });
        put(data, tag);
        onSaved(data, tag);
        say(t('task.saved'));
      }
    } catch (err) {
      if (err.status === 412) {
        say(t('board.stale', { id: task.id, who: t('history.someone'), source: '' }), 'error');
        onSaved(null);
      } else sayError(err);
    }
  };
  // Taking work from the pool: an open task nobody has, for a member or manager.
  const takeable = task && task.assigned_to == null && !isClosed(task.status) && canTake();
  const take = async () => {
    try {
      const { data, etag: tag } = await api('POST', `/api/tasks/${task.id}/take`, { etag });
      put(data, tag);
      onSaved(data, tag);
      say(t('task.taken'));
    } catch (err) {
      sayError(err);
    }
  };
  const remove = async () => {
    if (!confirm(t('task.confirmDelete', { id: task.id }))) return;
    try {
      await api('DELETE', `/api/tasks/${task.id}`, { etag });
      close();
    } catch (err) {
      sayError(err);
    }
  };
  const anyEditable = creating || ['title', 'status'].some(may);
  return (
    <form class="task-form" onSubmit={submit} key={etag}>
      {!anyEditable && <p class="hint">{t('task.readonly')}</p>}
      <Field name="title" task={task} editable={may('title')}>
        <input name="title" required maxLength={500} value={task?.title ?? ''} />
      </Field>
      <Field name="description" task={task} editable={may('description')}>
        <textarea name="description" rows={4} value={task?.description ?? ''} />
      </Field>
      <div class="row">
        {(!creating || !isClient()) && (
          <Field name="status" task={task} editable={may('status') && !isClient()}>
            <select name="status" value={task?.status ?? settings.statuses[0]} data-shown={statusLabel(task?.status ?? '')}>
              {settings.statuses.map((s) => <option value={s}>{statusLabel(s)}</option>)}
            </select>
          </Field>
        )}
        <Field name="priority" task={task} editable={may('priority') && !isClient()}>
          <select name="priority" value={task?.priority ?? 'medium'} data-shown={priorityLabel(task?.priority ?? '')}>
            {settings.priorities.map((p) => <option value={p}>{priorityLabel(p)}</option>)}
          </select>
        </Field>
        {!isClient() && (
          <Field name="assigned_to" task={task} editable={may('assigned_to')}>
            <select name="assigned_to" value={task?.assigned_to ?? ''} data-shown={nameOf(task?.assigned_to)}>
              <option value="">{t('filter.unassigned')}</option>
              {people.map(([id, name]) => <option value={String(id)}>{name}</option>)}
            </select>
          </Field>
        )}
        <Field name="due_date" task={task} editable={may('due_date')}>
          <input name="due_date" type="date" value={(task?.due_date ?? '').slice(0, 10)} data-shown={formatDate(task?.due_date)} />
        </Field>
      </div>
      {custom.length > 0 && (
        <div class="row custom">
          {custom.map((name) => (
            <Field name={name} task={task} editable={may(name)}>
              <CustomInput name={name} field={declaredOf(name)} value={task?.[name] ?? ''} />
            </Field>
          ))}
        </div>
      )}
      {task && (
        <p class="stamps">
          {task.created_by != null && <>{t('task.created_by')}: {nameOf(task.created_by)} · </>}
          {t('task.created_at')}: {formatDate(task.created_at)} · {t('task.updated_at')}: {formatDate(task.updated_at)}
        </p>
      )}
      <div class="actions">
        {(creating ? canCreate() : anyEditable) && <button type="submit" class="primary">{creating ? t('task.create') : t('task.save')}</button>}
        {takeable && <button type="button" data-action="take" onClick={take}>{t('task.take')}</button>}
        {task && canDelete(task) && <button type="button" class="danger" onClick={remove}>{t('task.delete')}</button>}
      </div>
    </form>
  );
}

/** The form, re-drawn only for a new version of the task, so that typing survives the
 * dialog's other updates (a comment arriving, say). */
class StableForm extends Component {
  shouldComponentUpdate(next) {
    return next.etag !== this.props.etag || next.task !== this.props.task;
  }

  render(props) {
    return <TaskForm {...props} />;
  }
}

/** The task's events as sentences: "anna moved it to done, 14:02, from a file edit". */
function History({ id, version }) {
  const [items, setItems] = useState(null);
  useEffect(() => {
    api('GET', `/api/tasks/${id}/history?per_page=500`).then(({ data }) => setItems(data.items), () => setItems([]));
  }, [id, version]);
  if (!items) return null;
  const sentence = (e) => {
    const who = e.user_id != null ? nameOf(e.user_id) : e.source === 'file' ? t('history.someone') : (me.value?.username === 'anonymous' ? 'anonymous' : t('history.someone'));
    const after = e.data?.after || {};
    if (e.type.endsWith('.created')) return t('history.created', { who });
    if (e.type.endsWith('.deleted')) return t('history.deleted', { who });
    if (after.status && Object.keys(after).filter((k) => k !== 'updated_at').length === 1) {
      return t('history.moved', { who, status: statusLabel(after.status) });
    }
    const fields = Object.keys(after).filter((k) => k !== 'updated_at').map((k) => t(`task.${k}`) === `task.${k}` ? k : t(`task.${k}`).toLowerCase());
    return t('history.changed', { who, fields: fields.join(', ') || '—' });
  };
  return (
    <section class="history">
      <h3>{t('task.history')}</h3>
      <ol>
        {items.map((e) => (
          <li data-event-id={e.id}>
            {sentence(e)}, {formatDate(e.created_at)}, {t('history.from', { source: t(`source.${e.source}`) })}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The client's rating of finished work: shown to whoever reads the task; offered to
 * its creator once it is done, once. */
function Feedback({ task }) {
  const [items, setItems] = useState(null);
  const load = () => api('GET', `/api/tasks/${task.id}/feedback`).then(({ data }) => setItems(data.items), () => setItems([]));
  useEffect(() => {
    load();
  }, [task.id, task.status]);
  if (!items) return null;
  const given = items[0];
  const mayRate = !given && isDone(task.status) && me.value?.id != null && task.created_by === me.value.id;
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      await api('POST', `/api/tasks/${task.id}/feedback`, { body: { rating: Number(form.get('rating')), comment: form.get('comment') || '' } });
      say(t('task.thanks'));
      load();
    } catch (err) {
      sayError(err);
    }
  };
  if (!given && !mayRate) return null;
  return (
    <section class="feedback">
      <h3>{t('task.rating')}</h3>
      {given && (
        <p data-rating={given.rating}>
          <span class="stars">{stars(given.rating)}</span> {given.comment}
        </p>
      )}
      {mayRate && (
        <form class="rate" onSubmit={submit}>
          <p class="hint">{t('task.rateAsk')}</p>
          <fieldset class="stars-input">
            <legend class="sr-only">{t('task.rating')}</legend>
            {[1, 2, 3, 4, 5].map((n) => (
              <label><input type="radio" name="rating" value={n} required /> {n}★</label>
            ))}
          </fieldset>
          <textarea name="comment" rows={2} maxLength={2000} placeholder={t('task.rateComment')} aria-label={t('task.rateComment')} />
          <button type="submit" class="primary">{t('task.rate')}</button>
        </form>
      )}
      {mayRate && settings.feedback_form_url && (
        <p class="hint">
          <a href={settings.feedback_form_url} target="_blank" rel="noopener noreferrer" data-feedback-form>{t('task.rateForm')}</a>
        </p>
      )}
    </section>
  );
}

function Analysis({ id, task }) {
  const [state, setState] = useState({});
  const keep = async () => {
    const steps = state.data.subtasks.map((s) => s.title);
    try {
      await keepAsChecklist(id, steps);
      say(t('checklist.kept', { n: steps.length }));
      setState((s) => ({ ...s, kept: true }));
    } catch (e) {
      sayError(e);
    }
  };
  const run = async () => {
    setState({ busy: true });
    try {
      const { data } = await api('POST', `/api/tasks/${id}/analyze`, { body: {} });
      setState({ data });
    } catch (e) {
      setState({});
      sayError(e);
    }
  };
  const a = state.data;
  return (
    <section class="analysis">
      <button type="button" onClick={run} disabled={state.busy} data-action="analyze">
        {state.busy ? t('task.analysing') : t('task.analyse')}
      </button>
      {a && (
        <div class="analysis-result" data-source={a.source}>
          <h3>{t('task.analysis')}</h3>
          {a.source === 'heuristic' && <p class="hint">{t('task.fallback')}</p>}
          <p>{a.summary}</p>
          <p>{t('task.priority')}: <strong>{priorityLabel(a.suggested_priority)}</strong> — {a.priority_rationale}</p>
          <p>{a.effort.size} · {formatNumber(a.effort.hours_min, 1)}–{formatNumber(a.effort.hours_max, 1)} h</p>
          {a.risk_flags.length > 0 && <ul>{a.risk_flags.map((r) => <li>{r.severity}: {r.kind} — {r.detail}</li>)}</ul>}
          {a.subtasks.length > 0 && <ol>{a.subtasks.map((s) => <li>{s.title} ({formatNumber(s.estimate_hours, 1)} h)</li>)}</ol>}
          {a.subtasks.length > 0 && canMove(task) && !state.kept && (
            <button type="button" data-action="keep-checklist" onClick={keep}>{t('checklist.keep')}</button>
          )}
          {a.clarifying_questions.length > 0 && <ul>{a.clarifying_questions.map((q) => <li>{q}</li>)}</ul>}
        </div>
      )}
    </section>
  );
}

export function TaskDialog({ id }) {
  const dialog = useRef();
  // One copy of the task: the board's live store. The dialog fetches the record once
  // for what a card lacks (description, custom fields, stamps) and puts it there; from
  // then on the feed keeps it current, and the dialog reads it from the store.
  const [state, setState] = useState({ ready: false, error: null, version: 0 });
  const load = () =>
    api('GET', `/api/tasks/${id}`).then(
      ({ data, etag }) => {
        put(data, etag);
        setState((s) => ({ ready: true, error: null, version: s.version + 1 }));
      },
      (error) => {
        // No network: what the board already holds of the task (its card) still opens,
        // so that a comment can be written and kept until the network is back.
        if (unreachable(error) && tasks.value.get(id)) setState((s) => ({ ready: true, error: null, version: s.version + 1 }));
        else setState((s) => ({ ...s, ready: false, error }));
      },
    );
  useEffect(() => {
    dialog.current?.showModal?.();
    if (id == null) return undefined;
    load();
    // Someone else's change is in the store at once (the feed put it there): the form
    // is rebuilt from it; a deleted task is gone.
    return onTaskChange((m) => {
      if (m.id !== id) return;
      if (m.op === 'delete') setState((s) => ({ ...s, ready: false, error: { status: 404 } }));
      else setState((s) => ({ ...s, version: s.version + 1 }));
    });
  }, [id]);
  const task = state.ready && id != null ? tasks.value.get(id) : null;
  const etag = id != null ? etags.get(id) : null;
  const comments = id != null ? commentCounts.value.get(id) || 0 : 0;
  return (
    <dialog ref={dialog} class="task-dialog" onClose={close} onCancel={close} data-task={id ?? 'new'}>
      <header>
        <h2>{id == null ? t('task.new') : `#${id} ${tasks.value.get(id)?.title ?? ''}`}</h2>
        <button type="button" class="link" onClick={close} aria-label={t('task.close')}>✕</button>
      </header>
      {state.error && <p class="error" role="alert">{state.error.status === 404 || state.error.status === 403 ? t('task.notFound', { id }) : state.error.message}</p>}
      {id == null && <TaskForm task={null} />}
      {task && (
        <>
          <StableForm task={task} etag={etag} onSaved={(saved, tag) => (saved ? (put(saved, tag), setState((s) => ({ ...s, version: s.version + 1 }))) : load())} />
          <Feedback task={task} />
          <Checklist task={task} progress={checklistProgress.value.get(id)} />
          <Analysis id={id} task={task} />
          <Comments task={task} count={comments} />
          <Documents task={task} headers={authHeader} />
          <History id={id} version={state.version} />
        </>
      )}
    </dialog>
  );
}
