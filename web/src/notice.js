// The message line under the navigation: what just happened, or what went wrong.
import { signal } from '@preact/signals';
import { ApiError } from './api.js';

/** `{text, kind}` ('info' or 'error'), cleared after a while. */
export const notice = signal(null);
let timer;

export function say(text, kind = 'info') {
  notice.value = { text, kind };
  clearTimeout(timer);
  timer = setTimeout(() => (notice.value = null), 8000);
}

/** An error as the person should read it: the server's detail and each field's reason. */
export function sayError(e) {
  const fields = e instanceof ApiError && e.problem.errors?.length
    ? `: ${e.problem.errors.map((f) => `${f.field} ${f.message}`).join('; ')}`
    : '';
  say(`${e.message}${fields}`, 'error');
}
