// The board's copy of the tasks, kept live through /ws: a snapshot first, then every
// change; after a lost connection it resumes from the last event id it saw, so nothing
// is missed and nothing stale stays. While a card is being dragged, incoming changes
// wait (hold/release) so that no re-render pulls the card out of the hand.
import { signal } from '@preact/signals';
import { api, session } from './api.js';

/** id → task, replaced as a whole on every change so that views re-render. */
export const tasks = signal(new Map());
/** task id → number of comments. */
export const commentCounts = signal(new Map());
/** task id → its checklist's progress, `{done, total}`. */
export const checklistProgress = signal(new Map());
/** task id → its rating (1–5), from the clients' feedback. */
export const ratings = signal(new Map());
/** 'connecting' | 'live' | 'offline' */
export const connection = signal('connecting');
/** Has the first snapshot arrived? */
export const loaded = signal(false);

/** The ETag of each task as this board shows it: what a move sends in If-Match. */
export const etags = new Map();
/** The last change seen per task: who made it and how, for a stale move's message. */
export const lastChange = new Map();

const commentTask = new Map();
/** checklist item id → {task_id, done}. */
const checklistItems = new Map();
let lastEventId = 0;
let socket = null;
let wantSnapshot = true;
let held = 0;
let queue = [];
let retry = 500;
let stopped = false;
const listeners = new Set();

/** Calls `fn(change)` for every task change; returns the unsubscribe. */
export function onTaskChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function lastSeenEventId() {
  return lastEventId;
}

/** What a card shows: the first load carries only these (the dialog reads the rest). */
export const CARD_FIELDS = ['title', 'status', 'priority', 'assigned_to', 'created_by', 'due_date', 'updated_at'];

export function start() {
  stopped = false;
  if (socket) return;
  begin();
}

/** The first load over HTTP, where it is compressed (a WebSocket message is not): the
 * cards, the comments' tasks and the ratings, then /ws resumes from where they stand.
 * If that fails, the socket's own snapshot does the same job. */
async function begin() {
  const read = (path) => api('GET', path).then(({ data }) => data, (e) => (e.status === 403 ? null : Promise.reject(e)));
  try {
    const [cards, comments, feedback, checklists] = await Promise.all([
      read(`/api/live/tasks?fields=${CARD_FIELDS.join(',')}`),
      read('/api/live/comments?fields=task_id'),
      read('/api/live/feedback?fields=task_id,rating'),
      read('/api/live/checklists?fields=task_id,done'),
    ]);
    if (stopped) return;
    const parts = [['tasks', cards], ['comments', comments], ['feedback', feedback], ['checklists', checklists]]
      .filter(([, part]) => part);
    for (const [sub, part] of parts) handle({ type: 'snapshot', sub, ...part });
    // Resume from the oldest of them: a change they already hold comes again and
    // is applied again (the same result), none is missed.
    resumeFrom(Math.min(...parts.map(([, part]) => part.event_id)));
    wantSnapshot = false;
  } catch {
    wantSnapshot = true;
  }
  if (!stopped && !socket) connect();
}

export function stop() {
  stopped = true;
  socket?.close();
  socket = null;
  tasks.value = new Map();
  commentCounts.value = new Map();
  checklistProgress.value = new Map();
  checklistItems.clear();
  ratings.value = new Map();
  etags.clear();
  lastEventId = 0;
  wantSnapshot = true;
  loaded.value = false;
}

/** While held, changes queue up; the last release applies them in order. */
export function hold() {
  held++;
}

export function release() {
  held = Math.max(0, held - 1);
  if (held === 0) {
    const waiting = queue;
    queue = [];
    waiting.forEach(handle);
  }
}

/** Puts a task the board learned of over REST (a PATCH's answer, a GET) in place. */
export function put(task, etag) {
  const next = new Map(tasks.value);
  const held = next.get(task.id);
  // `due_at` (when the task turns overdue, the server's rule) comes with the live
  // feed, not with REST answers: the one held stays while the due date is the same;
  // a new due date gets its own with the change the feed brings right after.
  const dueAt = held && held.due_date === task.due_date ? held.due_at : undefined;
  next.set(task.id, 'due_at' in task || dueAt === undefined ? task : { ...task, due_at: dueAt });
  if (etag) etags.set(task.id, etag);
  tasks.value = next;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  connection.value = 'connecting';
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  socket = ws;
  ws.onopen = () => {
    retry = 500;
    const s = session.value;
    if (s) send({ type: 'auth', token: s.access_token });
    send({ type: 'subscribe', id: 'tasks', topic: 'tasks', snapshot: wantSnapshot, fields: CARD_FIELDS });
    send({ type: 'subscribe', id: 'comments', topic: 'comments', snapshot: wantSnapshot });
    send({ type: 'subscribe', id: 'feedback', topic: 'feedback', snapshot: wantSnapshot });
    send({ type: 'subscribe', id: 'checklists', topic: 'checklists', snapshot: wantSnapshot, fields: ['task_id', 'done'] });
    if (!wantSnapshot) send({ type: 'resume', after_event_id: lastEventId });
    wantSnapshot = false;
  };
  ws.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    if (held && (m.type === 'change' || m.type === 'left')) queue.push(m);
    else handle(m);
  };
  ws.onclose = () => {
    if (socket === ws) socket = null;
    if (stopped) return;
    connection.value = 'offline';
    setTimeout(() => !stopped && !socket && connect(), retry);
    retry = Math.min(retry * 2, 5000);
  };
}

// A refreshed token reaches the open socket too (the server checks it on each message).
session.subscribe((s) => {
  if (s && socket?.readyState === WebSocket.OPEN) send({ type: 'auth', token: s.access_token });
});

function handle(m) {
  switch (m.type) {
    case 'snapshot':
      if (m.sub === 'tasks') {
        // A snapshot carries what a card shows; a task already held whole (a dialog
        // fetched it) at the same version keeps its other fields.
        const before = tasks.value;
        const next = new Map();
        for (const task of m.items) {
          const held = before.get(task.id);
          const same = held && etags.get(task.id) === m.etags?.[task.id];
          next.set(task.id, same ? { ...held, ...task } : task);
        }
        etags.clear();
        for (const [id, tag] of Object.entries(m.etags || {})) etags.set(Number(id), tag);
        tasks.value = next;
        loaded.value = true;
      } else if (m.sub === 'comments') {
        commentTask.clear();
        for (const c of m.items) commentTask.set(c.id, c.task_id);
        recount();
      } else if (m.sub === 'checklists') {
        checklistItems.clear();
        for (const item of m.items) checklistItems.set(item.id, { task_id: item.task_id, done: item.done === true });
        recountChecklists();
      } else if (m.sub === 'feedback') {
        ratings.value = new Map(m.items.map((f) => [f.task_id, f.rating]));
      }
      seen(m.event_id);
      break;
    case 'subscribed':
    case 'resumed':
      connection.value = 'live';
      break;
    case 'change':
      if (m.topic === 'tasks') taskChange(m);
      else if (m.topic === 'comments') commentChange(m);
      else if (m.topic === 'feedback') feedbackChange(m);
      else if (m.topic === 'checklists') checklistChange(m);
      seen(m.event_id);
      break;
    case 'left':
      if (m.sub === 'tasks') remove(m.id);
      seen(m.event_id);
      break;
    case 'lagged':
      send({ type: 'resume', after_event_id: lastEventId });
      break;
    case 'error':
      // Events older than the journal holds: only a fresh snapshot is the truth.
      if (/archived/.test(m.message || '')) {
        wantSnapshot = true;
        socket?.close();
      }
      break;
    default:
  }
}

function seen(id) {
  if (typeof id === 'number' && id > lastEventId) lastEventId = id;
}

/** Sets the resume point outright (the first load's snapshots may be older than one
 * already seen). */
function resumeFrom(id) {
  lastEventId = id;
}

function taskChange(m) {
  lastChange.set(m.id, { actor: m.actor, source: m.source, event_id: m.event_id });
  if (m.op === 'delete' || !m.after) {
    remove(m.id);
  } else {
    const next = new Map(tasks.value);
    const merged = m.partial ? { ...(next.get(m.id) || { id: m.id }), ...m.after } : m.after;
    next.set(m.id, merged);
    tasks.value = next;
    if (m.etag) etags.set(m.id, m.etag);
    // A replayed change holds only what changed: the record and its ETag come from
    // the server, so that the board never moves a card against a version it guessed.
    else if (m.partial) refetch(m.id);
  }
  listeners.forEach((fn) => fn(m));
}

async function refetch(id) {
  etags.delete(id);
  try {
    const { data, etag } = await api('GET', `/api/tasks/${id}`);
    put(data, etag);
  } catch (e) {
    if (e.status === 404 || e.status === 403) remove(id);
  }
}

function remove(id) {
  if (!tasks.value.has(id)) return;
  const next = new Map(tasks.value);
  next.delete(id);
  etags.delete(id);
  tasks.value = next;
}

function commentChange(m) {
  if (m.op === 'delete') commentTask.delete(m.id);
  else if (m.after?.task_id != null) commentTask.set(m.id, Number(m.after.task_id));
  else if (m.op === 'create' && m.after) commentTask.set(m.id, m.after.task_id);
  recount();
}

function checklistChange(m) {
  if (m.op === 'delete' || !m.after) checklistItems.delete(m.id);
  else {
    const held = checklistItems.get(m.id) || {};
    const after = m.after;
    checklistItems.set(m.id, {
      task_id: after.task_id != null ? Number(after.task_id) : held.task_id,
      done: 'done' in after ? after.done === true : !!held.done,
    });
  }
  recountChecklists();
}

function recountChecklists() {
  const progress = new Map();
  for (const { task_id: id, done } of checklistItems.values()) {
    const p = progress.get(id) || { done: 0, total: 0 };
    progress.set(id, { done: p.done + (done ? 1 : 0), total: p.total + 1 });
  }
  checklistProgress.value = progress;
}

function feedbackChange(m) {
  const next = new Map(ratings.value);
  if (m.op === 'delete') {
    if (m.before?.task_id != null) next.delete(Number(m.before.task_id));
  } else if (m.after?.task_id != null && m.after?.rating != null) {
    next.set(Number(m.after.task_id), Number(m.after.rating));
  }
  ratings.value = next;
}

function recount() {
  const counts = new Map();
  for (const taskId of commentTask.values()) counts.set(taskId, (counts.get(taskId) || 0) + 1);
  commentCounts.value = counts;
}
