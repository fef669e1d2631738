// The board's URLs: /board/ (the columns), /board/tasks/42 (a task over them),
// /board/new, /board/stats, /board/admin/{users,scheduler,backups,health}. Filters
// live in the query string so that a link shows the same board.
import { signal } from '@preact/signals';

const BASE = '/board';

function current() {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || '/' : '/';
  return { path, query: new URLSearchParams(location.search) };
}

export const route = signal(current());

addEventListener('popstate', () => {
  route.value = current();
});

/** Goes to `path` (below /board), keeping or replacing the query. */
export function navigate(path, { query, replace = false } = {}) {
  const q = query ?? route.value.query;
  const search = q.toString();
  const url = `${BASE}${path}${search ? `?${search}` : ''}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.value = current();
}

/** Changes one query parameter (removed when empty), in place. */
export function setQuery(name, value) {
  const q = new URLSearchParams(route.value.query);
  if (value === '' || value == null || value === false) q.delete(name);
  else q.set(name, value === true ? '1' : value);
  navigate(route.value.path, { query: q, replace: true });
}

/** An <a> that routes without reloading the page. */
export function Link({ to, children, ...rest }) {
  const search = route.value.query.toString();
  const href = `${BASE}${to}${search && to.startsWith('/tasks') ? `?${search}` : ''}`;
  const click = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={href} onClick={click} {...rest}>
      {children}
    </a>
  );
}
