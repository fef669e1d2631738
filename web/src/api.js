// Talking to the API: the session, and `api()`, which sends the token and turns a
// problem+json answer into an ApiError.
//
// The access token (short-lived) is kept in memory only and travels in the
// Authorization header. The refresh token never reaches a script: the server keeps it
// in an HttpOnly, SameSite=Strict cookie that only POST /api/auth/refresh receives,
// and only with the `X-Refresh-Cookie: 1` header, which another site's page cannot
// send (the CSRF story: SameSite keeps the cookie off cross-site requests, the header
// keeps it off simple forms, and the answer is readable by this origin only). A
// reload, or another tab, gets its access token from that cookie. Refreshes are taken
// one at a time across tabs (Web Locks), since a refresh token used twice ends the
// session.
import { signal } from '@preact/signals';

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

/** `{access_token, expires_at, user}`, or null when logged out. In memory only. */
export const session = signal(null);
/** The logged-in user: `{id, username, role}`. */
export const me = signal(null);

/** Asks the server for the refresh token in its cookie rather than in the body. */
const COOKIE = { 'x-refresh-cookie': '1' };

/** Whether this browser logged in and did not log out: worth asking the cookie at
 * start (no secret; it spares a fresh visitor a refused refresh). */
const SIGNED_IN = 'taskboard.signedIn';

function store(pair) {
  if (pair) localStorage.setItem(SIGNED_IN, '1');
  else localStorage.removeItem(SIGNED_IN);
  const value = pair && {
    access_token: pair.access_token,
    expires_at: Date.now() + pair.expires_in * 1000,
    user: pair.user,
  };
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

/** One at a time across this origin's tabs, where the browser can say so. */
function exclusively(work) {
  return navigator.locks?.request ? navigator.locks.request('taskboard.refresh', work) : work();
}

/** A new token pair from the refresh cookie; one at a time, whoever asks. */
export function refresh() {
  refreshing ||= exclusively(() => fetch('/api/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...COOKIE },
    body: '{}',
  }))
    .then(async (r) => {
      if (!r.ok) {
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

/** At start: the session the refresh cookie still holds, if any (a reload, a new tab). */
export async function resume() {
  if (session.value) return session.value;
  if (!localStorage.getItem(SIGNED_IN)) return null;
  return refresh().catch(() => null);
}

export async function login(username, password) {
  const r = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-language': requestLanguage, ...COOKIE },
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
  const headers = { ...authHeader(), 'accept-language': requestLanguage, ...COOKIE };
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

