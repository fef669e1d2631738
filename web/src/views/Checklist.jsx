// A task's checklist: the steps of the job, ticked off one by one; added, reworded,
// reordered (drag, or the ↑ ↓ buttons from the keyboard) and deleted by whoever may
// change the task's status (the server decides; `canMove` only keeps the board from
// offering what it would refuse).
import { useEffect, useRef, useState } from 'preact/hooks';
import Sortable from 'sortablejs';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { sayError } from '../notice.js';
import { unreachable } from '../offline.js';
import { canMove } from '../people.js';

/** Positions that put `moved` at `to` among `items` (in their order): 1, 2, 3, …;
 * only the items whose position changes are sent. */
function renumber(items, moved, to) {
  const rest = items.filter((i) => i.id !== moved.id);
  rest.splice(to, 0, moved);
  return rest.map((item, i) => ({ item, position: i + 1 })).filter(({ item, position }) => item.position !== position);
}

export function Checklist({ task, progress }) {
  const [items, setItems] = useState([]);
  const list = useRef(null);
  const mine = canMove(task);
  const load = () => api('GET', `/api/tasks/${task.id}/checklist?per_page=500`)
    .then(({ data }) => setItems(data.items), (e) => unreachable(e) || sayError(e));
  // The live progress changes when anyone ticks or adds: then the list is read again.
  useEffect(() => {
    load();
  }, [task.id, progress?.done, progress?.total]);
  const act = async (method, path, body) => {
    try {
      await api(method, path, body ? { body } : undefined);
    } catch (err) {
      sayError(err);
    }
    load();
  };
  const move = async (item, to) => {
    if (to < 0 || to >= items.length) return;
    for (const { item: i, position } of renumber(items, item, to)) {
      try {
        await api('PATCH', `/api/checklist/${i.id}`, { body: { position } });
      } catch (err) {
        sayError(err);
        break;
      }
    }
    await load();
    list.current?.querySelector(`[data-item-id="${item.id}"] [data-move]`)?.focus();
  };
  useEffect(() => {
    if (!mine || !list.current) return undefined;
    const sortable = Sortable.create(list.current, {
      handle: '.grip',
      animation: 120,
      onEnd: (evt) => {
        // Give the DOM back to Preact; the order changes when the server says so.
        const node = evt.item;
        node.parentNode.removeChild(node);
        list.current.insertBefore(node, list.current.children[evt.oldIndex] || null);
        const item = items.find((i) => i.id === Number(node.dataset.itemId));
        if (item && evt.oldIndex !== evt.newIndex) move(item, evt.newIndex);
      },
    });
    return () => sortable.destroy();
  }, [mine, items]);
  const add = (e) => {
    e.preventDefault();
    const text = e.target.text.value.trim();
    if (!text) return;
    e.target.reset();
    act('POST', `/api/tasks/${task.id}/checklist`, { text });
  };
  const remove = (item) => {
    if (confirm(t('checklist.confirmDelete', { text: item.text.slice(0, 60) }))) act('DELETE', `/api/checklist/${item.id}`);
  };
  const done = items.filter((i) => i.done).length;
  return (
    <section class="checklist" data-checklist={task.id}>
      <h3>{t('checklist.title')} {items.length > 0 && <span class="count" data-progress>{done}/{items.length}</span>}</h3>
      {items.length === 0 && <p class="hint">{t('checklist.none')}</p>}
      <ul ref={list}>
        {items.map((item, i) => (
          <li data-item-id={item.id} class={item.done ? 'done' : ''} key={item.id}>
            {mine && <span class="grip" aria-hidden="true">⠿</span>}
            <label>
              <input type="checkbox" checked={item.done} disabled={!mine}
                onChange={(e) => act('PATCH', `/api/checklist/${item.id}`, { done: e.target.checked })} />
              <span class="text">{item.text}</span>
            </label>
            {mine && (
              <span class="tools">
                <button type="button" class="link" data-move="up" disabled={i === 0} aria-label={t('checklist.up', { text: item.text })} onClick={() => move(item, i - 1)}>↑</button>
                <button type="button" class="link" data-move="down" disabled={i === items.length - 1} aria-label={t('checklist.down', { text: item.text })} onClick={() => move(item, i + 1)}>↓</button>
                <button type="button" class="link danger" aria-label={t('checklist.remove', { text: item.text })} onClick={() => remove(item)}>✕</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {mine && (
        <form class="add-item" onSubmit={add}>
          <input name="text" placeholder={t('checklist.add')} aria-label={t('checklist.add')} maxLength={500} />
          <button type="submit">{t('checklist.addButton')}</button>
        </form>
      )}
    </section>
  );
}

/** Adds `steps` to task `id`'s checklist, in order (the AI analysis' subtasks). */
export async function keepAsChecklist(id, steps) {
  for (const text of steps) {
    await api('POST', `/api/tasks/${id}/checklist`, { body: { text: String(text).slice(0, 500) } });
  }
}
