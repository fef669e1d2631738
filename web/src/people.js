// Who is who, and what the board offers whom. The server decides every request; these
// only keep the board from offering what would be refused (the role matrix in
// ARCHITECTURE.md and README.md).
import { signal } from '@preact/signals';
import { api, me, settings } from './api.js';

/** id → how each person the caller may see is shown (full name, else username); a
 * client sees the people on their own requests. */
export const directory = signal(new Map());

export async function loadDirectory() {
  try {
    const { data } = await api('GET', '/api/directory');
    directory.value = new Map(data.items.map((u) => [u.id, u.name || u.username]));
  } catch {
    directory.value = new Map();
  }
}

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

/** May the caller change `field` of `task`? */
export function canEdit(task, field) {
  const r = role();
  const mine = (id) => id != null && id === me.value?.id;
  if (r === 'admin' || r === 'manager') return true;
  if (r === 'member') return mine(task.assigned_to) || mine(task.created_by);
  if (r === 'client') return mine(task.created_by) && task.status === settings.statuses[0] && (field === 'title' || field === 'description');
  return false;
}

export const canMove = (task) => canEdit(task, 'status');
export const canDelete = () => role() === 'admin' || role() === 'manager';
