// Who is who, and what the board offers whom. The server decides every request, and
// says what it will allow in `can` (GET /api/auth/me); these read that answer so that
// the board offers only what will be accepted.
import { signal } from '@preact/signals';
import { api, me, settings } from './api.js';

/** id → how each person the caller may see is shown (full name, else username); a
 * client sees the people on their own requests. */
export const directory = signal(new Map());
/** id → phone, for the people whose phone the caller may see (staff). */
const phones = new Map();

export async function loadDirectory() {
  try {
    const { data } = await api('GET', '/api/directory');
    phones.clear();
    for (const u of data.items) if (u.phone) phones.set(u.id, u.phone);
    directory.value = new Map(data.items.map((u) => [u.id, u.name || u.username]));
  } catch {
    directory.value = new Map();
  }
}

/** The phone of person `id`, when the directory gave it. */
export const phoneOf = (id) => (id == null ? '' : phones.get(Number(id)) || '');

export function nameOf(id) {
  if (id == null || id === '') return '';
  if (me.value?.id === id) return me.value.name || me.value.username;
  return directory.value.get(Number(id)) || `#${id}`;
}

const role = () => me.value?.role;
/** What the server says the caller may do (`can` of GET /api/auth/me): worked out by
 * the very checks every request goes through, so the board keeps no role matrix. */
const can = () => me.value?.can || {};
/** How far the caller reaches in `area` for `action`: all, own, names or none. */
const reach = (area, action) => can().areas?.[area]?.[action] || 'none';
export const isStaff = () => reach('users', 'read') === 'all';
export const isAdmin = () => reach('system', 'read') === 'all';
export const isClient = () => role() === 'client';
export const canCreate = () => !!can().create;
/** Keeps recurring work (managers, admins). */
export const canKeepRecurring = () => reach('recurring', 'read') !== 'none';

/** How `task` stands to the caller, in the words of `can`: `created:first`, … */
function situation(task) {
  const mine = (id) => id != null && id === me.value?.id;
  const relation = mine(task.created_by) ? 'created' : mine(task.assigned_to) ? 'assigned' : 'other';
  return `${relation}:${task.status === settings.statuses[0] ? 'first' : 'later'}`;
}

/** May the caller change `field` of `task`? */
export function canEdit(task, field) {
  // A column added to tasks.csv by hand is in no list: `edit_other` speaks for it.
  return (can().edit?.[field] || can().edit_other || []).includes(situation(task));
}

/** May the caller set `field` on a task they create? */
export function canSetOnCreate(field) {
  const c = can();
  return field in (c.edit || {}) ? (c.create_fields || []).includes(field) : !!c.create_other;
}

export const canMove = (task) => canEdit(task, 'status');
/** Takes unassigned open work from the pool. */
export const canTake = () => !!can().take;
export const canDelete = (task) => (can().delete || []).includes(situation(task));
/** Changes (or deletes) a record of `area` (comments, docs) whose author is
 * `author`: `all` reaches anyone's, `own` one's own. */
export function canChangeOwn(area, author, action = 'update') {
  const r = reach(area, action);
  return r === 'all' || (r === 'own' && author != null && author === me.value?.id);
}
