// Changes made without a network (a technician in a basement): a status change or a
// comment is kept in this browser (localStorage, so a closed tab keeps it), shown as
// pending, and sent in order when the network is back. A status change carries the
// version of the task it was made against (If-Match): if someone changed the task
// meanwhile, it is not applied over their change; the person is told, and the board
// shows the task as it now is.
import { signal } from '@preact/signals';
import { ApiError, api } from './api.js';

const KEY = 'taskboard.pending';

function read() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/** What waits to be sent, oldest first. */
export const pending = signal(read());

function write(list) {
  pending.value = list;
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // Private mode or full: kept in memory for this page at least.
  }
}

/** Whether `e` means the request never reached the server. */
export const unreachable = (e) => !(e instanceof ApiError);

/** Keeps a change to send later: `{kind: 'status', task_id, status, etag}` or
 * `{kind: 'comment', task_id, message}`. */
export function keep(change) {
  write([...pending.value, { ...change, key: `${Date.now()}-${Math.random().toString(36).slice(2)}` }]);
}

export const pendingFor = (taskId) => pending.value.filter((p) => p.task_id === taskId);

let sending = false;

/** Sends what waits, in order; `told(outcome)` hears of each one that was answered:
 * `{change, task, etag}` when applied, `{change, error}` when refused. Stops at the
 * first that cannot reach the server (still offline), to try again later. */
export async function sendPending(told) {
  if (sending || pending.value.length === 0) return;
  sending = true;
  try {
    while (pending.value.length > 0) {
      const [next] = pending.value;
      try {
        if (next.kind === 'status') {
          const { data, etag } = await api('PATCH', `/api/tasks/${next.task_id}`, { body: { status: next.status }, etag: next.etag });
          told({ change: next, task: data, etag });
        } else {
          await api('POST', `/api/tasks/${next.task_id}/comments`, { body: { message: next.message } });
          told({ change: next });
        }
      } catch (error) {
        if (unreachable(error)) return;
        told({ change: next, error });
      }
      write(pending.value.filter((p) => p.key !== next.key));
    }
  } finally {
    sending = false;
  }
}
