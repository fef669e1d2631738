// A task's comments: read, add, edit and delete (the server decides who may).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, t } from '../i18n.js';
import { say, sayError } from '../notice.js';
import { keep, pendingFor, unreachable } from '../offline.js';
import { canChangeOwn, nameOf } from '../people.js';

export function Comments({ task, count }) {
  const [items, setItems] = useState([]);
  const [editing, setEditing] = useState(null);
  const load = () => api('GET', `/api/tasks/${task.id}/comments?per_page=500`).then(({ data }) => setItems(data.items), (e) => unreachable(e) || sayError(e));
  // The live comment count changes when anyone comments: then the list is read again.
  useEffect(() => {
    load();
  }, [task.id, count]);
  const add = async (e) => {
    e.preventDefault();
    const form = e.target;
    const message = form.message.value.trim();
    if (!message) return;
    try {
      await api('POST', `/api/tasks/${task.id}/comments`, { body: { message } });
      form.reset();
      load();
    } catch (err) {
      if (unreachable(err)) {
        keep({ kind: 'comment', task_id: task.id, message });
        form.reset();
        say(t('offline.kept'));
        return;
      }
      sayError(err);
    }
  };
  const save = async (c, message) => {
    try {
      await api('PATCH', `/api/comments/${c.id}`, { body: { message } });
      setEditing(null);
      load();
    } catch (err) {
      sayError(err);
    }
  };
  const remove = async (c) => {
    // One mis-tap on a phone must not take someone's words: asked first.
    if (!confirm(t('comments.confirmDelete', { text: c.message.slice(0, 60) }))) return;
    try {
      await api('DELETE', `/api/comments/${c.id}`);
      load();
    } catch (err) {
      sayError(err);
    }
  };
  const mayChange = (c) => canChangeOwn('comments', c.user_id);
  return (
    <section class="comments">
      <h3>{t('task.comments')}</h3>
      {items.length === 0 && <p class="hint">{t('task.noComments')}</p>}
      <ul>
        {items.map((c) => (
          <li data-comment-id={c.id}>
            <span class="by">{c.user_id != null ? nameOf(c.user_id) : 'anonymous'}, {formatDate(c.created_at)}</span>
            {editing === c.id ? (
              <form onSubmit={(e) => { e.preventDefault(); save(c, e.target.message.value); }}>
                <textarea name="message" rows={2} value={c.message} />
                <button type="submit">{t('task.save')}</button>
                <button type="button" class="link" onClick={() => setEditing(null)}>{t('common.cancel')}</button>
              </form>
            ) : (
              <p class="message">{c.message}</p>
            )}
            {mayChange(c) && editing !== c.id && (
              <span class="tools">
                <button type="button" class="link" onClick={() => setEditing(c.id)}>{t('task.edit')}</button>
                <button type="button" class="link danger" onClick={() => remove(c)}>{t('task.remove')}</button>
              </span>
            )}
          </li>
        ))}
        {pendingFor(task.id).filter((p) => p.kind === 'comment').map((p) => (
          <li class="pending" data-pending-comment={p.key}>
            <span class="by waiting">{t('offline.pending')}</span>
            <p class="message">{p.message}</p>
          </li>
        ))}
      </ul>
      <form class="add-comment" onSubmit={add}>
        <textarea name="message" rows={2} placeholder={t('task.comment')} aria-label={t('task.comment')} />
        <button type="submit">{t('task.send')}</button>
      </form>
    </section>
  );
}
