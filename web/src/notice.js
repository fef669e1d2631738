// The message line under the navigation: what just happened, or what went wrong.
import { signal } from '@preact/signals';
import { ApiError } from './api.js';
import { t } from './i18n.js';

/** `{text, kind}` ('info' or 'error'), cleared after a while. */
export const notice = signal(null);
let timer;

export function say(text, kind = 'info') {
  notice.value = { text, kind };
  clearTimeout(timer);
  timer = setTimeout(() => (notice.value = null), 8000);
}

/** An error as the person should read it: each field (by its label) with its reason,
 * else the server's detail (both already in the board's language). */
export function sayError(e) {
  const fields = e instanceof ApiError ? e.problem?.errors || [] : [];
  const label = (field) => (t(`task.${field}`) === `task.${field}` ? field : t(`task.${field}`));
  say(fields.length ? fields.map((f) => `${label(f.field)}: ${f.message}`).join('; ') : e.message, 'error');
}
