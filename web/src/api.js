// Talking to the API: the session (bearer tokens kept in localStorage, refreshed a
// minute before they expire), and `api()`, which sends the token and turns a
// problem+json answer into an ApiError. Tokens travel only in the Authorization
// header, never in a cookie, so another site cannot make the browser act for the user.
import { signal } from '@preact/signals';

const KEY = 'taskboard.session';

/** The settings the server put in the page (statuses, priorities, security). */
export const settings = (() => {
  const tag = document.querySelector('meta[name="taskboard"]');
  try {
    return JSON.parse(tag?.content || '{}');
  } catch {
    return {};
  }
})();
settings.statuses ||= ['new', 'in_progress', 'done', 'cancelled'];
settings.workflow ||= settings.statuses.map((id) => ({ id, label: {}, kind: id === 'done' ? 'done' : id === 'cancelled' ? 'cancelled' : 'open' }));
const kindOf = (status) => settings.workflow.find((s) => s.id === status)?.kind;
/** Finished: a status of kind done (the server's rule; never the word). */
export const isDone = (status) => kindOf(status) === 'done';
/** No longer open work: done or cancelled by kind. */
export const isClosed = (status) => ['done', 'cancelled'].includes(kindOf(status));
settings.priorities ||= ['low', 'medium', 'high', 'critical'];

/** The board's language, sent as Accept-Language so that errors come in it too. */
let requestLanguage = document.documentElement.lang || 'en';
export function setRequestLanguage(l) {
  requestLanguage = l;
}

/** `{access_token, refresh_token, expires_at, user}`, or null when logged out. */
export const session = signal(load());
/** The logged-in user: `{id, username, role}`. */
export const me = signal(session.value?.user || null);

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

function store(pair) {
  const value = pair && {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  };
  if (value) localStorage.setItem(KEY, JSON.stringify(value));
  else localStorage.removeItem(KEY);
  session.value = value;
  if (value) me.value = value.user;
  schedule();
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

let refreshing = null;
let timer = null;

function schedule() {
  clearTimeout(timer);
  const s = session.value;
  if (!s) return;
  const wait = Math.max(5_000, s.expires_at - Date.now() - 60_000);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

/** A new token pair for the refresh token; one at a time, whoever asks. */
export function refresh() {
  const s = session.value;
  if (!s) return Promise.reject(new ApiError(401));
  refreshing ||= fetch('/api/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  })
    .then(async (r) => {
      if (!r.ok) {
        // Another tab may have refreshed with the same token first: take its pair.
        const other = load();
        if (other && other.refresh_token !== s.refresh_token) {
          session.value = other;
          schedule();
          return other;
        }
        store(null);
        throw new ApiError(r.status, await r.json().catch(() => null));
      }
      store(await r.json());
      return session.value;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function login(username, password) {
  const r = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-language': requestLanguage },
    body: JSON.stringify({ username, password }),
  });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, body);
  store(body);
  return body;
}

export async function logout() {
  if (session.value) await api('POST', '/api/auth/logout').catch(() => {});
  store(null);
  me.value = null;
}

/** Takes the pair a password change answers with. */
export function adopt(pair) {
  store(pair);
}

export function authHeader() {
  const s = session.value;
  return s ? { authorization: `Bearer ${s.access_token}` } : {};
}

/**
 * `api(method, path, {body, etag, form})` → `{status, data, etag}`. `body` is sent as
 * JSON, `form` as it is; `etag` becomes If-Match. A 401 refreshes the token once.
 */
export async function api(method, path, { body, etag, form, raw } = {}, retried = false) {
  const headers = { ...authHeader(), 'accept-language': requestLanguage };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (etag) headers['if-match'] = etag;
  const r = await fetch(path, { method, headers, body: body !== undefined ? JSON.stringify(body) : form });
  if (r.status === 401 && session.value && !retried) {
    await refresh();
    return api(method, path, { body, etag, form, raw }, true);
  }
  if (raw && r.ok) return { status: r.status, blob: await r.blob(), headers: r.headers };
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!r.ok) {
    if (r.status === 401) store(null);
    throw new ApiError(r.status, data);
  }
  return { status: r.status, data, etag: r.headers.get('etag') };
}

/** Every page of a list, for the few screens that need them all. */
export async function listAll(path) {
  const items = [];
  for (let page = 1; ; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const { data } = await api('GET', `${path}${sep}per_page=500&page=${page}`);
    items.push(...data.items);
    if (items.length >= data.total || data.items.length === 0) return items;
  }
}

schedule();
