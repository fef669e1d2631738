// Who is who, and what the board offers whom. The server decides every request; these
// only keep the board from offering what would be refused (the role matrix in
// ARCHITECTURE.md and README.md).
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
export const isStaff = () => ['admin', 'manager', 'supervisor'].includes(role());
export const isAdmin = () => role() === 'admin';
export const isClient = () => role() === 'client';
export const canCreate = () => role() !== 'supervisor';

/** May the caller change `field` of `task`? The matrix of the server's
 * auth/task_fields.rs, so that the form offers only what will be accepted. */
export function canEdit(task, field) {
  const r = role();
  const mine = (id) => id != null && id === me.value?.id;
  const declared = (settings.fields || []).find((f) => f.name === field);
  if (r === 'admin') return true;
  if (declared?.editable_by?.length && !declared.editable_by.includes(r) && !(r === 'client' && declared.client_editable)) return false;
  if (r === 'manager') return true;
  if (r === 'member') {
    if (!(mine(task.assigned_to) || mine(task.created_by))) return false;
    if (['due_date', 'priority', 'assigned_to'].includes(field)) return false;
    if (field === 'title' || field === 'description') return mine(task.created_by);
    return true;
  }
  if (r === 'client') {
    const own = ['title', 'description', 'due_date'].includes(field) || !!declared?.client_editable;
    return own && mine(task.created_by) && task.status === settings.statuses[0];
  }
  return false;
}

/** May the caller set `field` on a task they create? A client sets title,
 * description, due date and the fields declared client_editable; staff anything. */
export function canSetOnCreate(field) {
  if (role() !== 'client') return true;
  const declared = (settings.fields || []).find((f) => f.name === field);
  return ['title', 'description', 'due_date'].includes(field) || !!declared?.client_editable;
}

export const canMove = (task) => canEdit(task, 'status');
/** Members and managers take unassigned work (admins too). */
export const canTake = () => ['admin', 'manager', 'member'].includes(role());
export const canDelete = () => role() === 'admin' || role() === 'manager';
