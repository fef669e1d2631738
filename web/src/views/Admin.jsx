// The administrator's pages: users, the scheduler, backups, and health with the state
// of every table file (a broken tasks.csv shows its file:line:column message here).
import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../api.js';
import { formatDate, formatNumber, t } from '../i18n.js';
import { say, sayError } from '../notice.js';
import { loadDirectory } from '../people.js';
import { download } from './Documents.jsx';

const ROLES = ['admin', 'manager', 'supervisor', 'member', 'client'];

/** Loads with `load()`, again after every action; `act(fn)` runs one and reports. */
export function useLoaded(load, everyMs = 0) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = () => load().then(setData, setError);
  useEffect(() => {
    reload();
    const timer = everyMs ? setInterval(reload, everyMs) : null;
    return () => clearInterval(timer);
  }, []);
  const act = async (fn, message) => {
    try {
      const r = await fn();
      if (message) say(typeof message === 'function' ? message(r) : message);
    } catch (e) {
      sayError(e);
    }
    reload();
  };
  return { data, error, act };
}

export function Page({ title, error, children }) {
  return (
    <main class="page admin">
      <h1>{title}</h1>
      {error ? <p class="error" role="alert">{error.status === 403 ? t('common.forbidden') : error.message}</p> : children}
    </main>
  );
}

/** Staff accounts claimed by Telegram username, waiting for an admin. */
function WaitingBindings({ act }) {
  const [items, setItems] = useState([]);
  const load = () => api('GET', '/api/telegram/bindings').then((r) => setItems(r.data.items), () => setItems([]));
  useEffect(() => { load(); }, []);
  if (!items.length) return null;
  const decide = (b, verdict) =>
    act(() => api('POST', `/api/telegram/bindings/${b.user_id}/${b.telegram_id}/${verdict}`).then(load), t('users.done'));
  return (
    <section class="waiting-bindings">
      <h2>{t('users.waiting')}</h2>
      <ul>
        {items.map((b) => (
          <li data-binding={b.user_id}>
            {t('users.asks', { telegram: b.telegram_username, id: b.telegram_id, name: b.name })}{' '}
            <button type="button" class="primary" onClick={() => decide(b, 'confirm')}>{t('users.confirm')}</button>{' '}
            <button type="button" class="link danger" onClick={() => decide(b, 'reject')}>{t('users.reject')}</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Users() {
  const { data, error, act } = useLoaded(() => listAll('/api/users'));
  const create = (e) => {
    e.preventDefault();
    const form = e.target;
    const body = { username: form.username.value.trim(), role: form.role.value };
    if (form.password.value) body.password = form.password.value;
    act(async () => {
      await api('POST', '/api/users', { body });
      form.reset();
      loadDirectory();
    }, t('users.done'));
  };
  const patch = (u, body) => act(() => api('PATCH', `/api/users/${u.id}`, { body }).then(loadDirectory), t('users.done'));
  const reset = (u) => {
    const password = prompt(t('users.newPassword', { name: u.username }));
    if (password) act(() => api('PUT', `/api/users/${u.id}/password`, { body: { password } }), t('users.done'));
  };
  return (
    <Page title={t('users.title')} error={error}>
      <form class="inline-form" onSubmit={create}>
        <input name="username" placeholder={t('users.username')} aria-label={t('users.username')} required />
        <select name="role" aria-label={t('users.role')}>{ROLES.map((r) => <option value={r} selected={r === 'member'}>{t(`role.${r}`)}</option>)}</select>
        <input name="password" type="password" placeholder={t('users.password')} aria-label={t('users.password')} autocomplete="new-password" />
        <button type="submit" class="primary">{t('users.create')}</button>
      </form>
      <WaitingBindings act={act} />
      <div class="table-scroll"><table class="numbers">
        <thead><tr><th>#</th><th>{t('users.username')}</th><th>{t('users.fullName')}</th><th>{t('users.phone')}</th><th>{t('users.role')}</th><th>{t('users.active')}</th><th>{t('users.telegram')}</th><th /></tr></thead>
        <tbody>
          {(data || []).map((u) => (
            <tr data-user-id={u.id}>
              <td>{u.id}</td>
              <td>{u.username}</td>
              <td><input name="full_name" value={u.full_name || ''} aria-label={t('users.fullName')} onChange={(e) => patch(u, { full_name: e.target.value })} /></td>
              <td><input name="phone" type="tel" value={u.phone || ''} aria-label={t('users.phone')} onChange={(e) => patch(u, { phone: e.target.value })} /></td>
              <td>
                <select name="role" value={u.role} aria-label={t('users.role')} onChange={(e) => patch(u, { role: e.target.value })}>
                  {ROLES.map((r) => <option value={r}>{t(`role.${r}`)}</option>)}
                </select>
              </td>
              <td>{u.is_active ? t('common.yes') : t('common.no')}</td>
              <td>{u.telegram_id ? t('users.linked') : t('users.notLinked')}</td>
              <td class="tools">
                {u.is_active
                  ? <button type="button" class="link danger" onClick={() => act(() => api('DELETE', `/api/users/${u.id}`).then(loadDirectory), t('users.done'))}>{t('users.deactivate')}</button>
                  : <button type="button" class="link" onClick={() => patch(u, { is_active: true })}>{t('users.activate')}</button>}
                <button type="button" class="link" onClick={() => reset(u)}>{t('users.reset')}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table></div>
    </Page>
  );
}

export function Scheduler() {
  const { data, error, act } = useLoaded(async () => {
    const [jobs, status] = await Promise.all([api('GET', '/api/system/scheduler'), api('GET', '/api/system/scheduler/status')]);
    return { jobs: jobs.data.items, status: status.data };
  });
  const change = (job) => {
    const value = prompt(t('jobs.newSchedule', { id: job.id }), job.schedule || job.interval || '');
    if (!value) return;
    const body = /^\d+\s*[smhd]$/.test(value.trim()) ? { interval: value.trim() } : { schedule: value.trim() };
    act(() => api('PUT', `/api/system/scheduler/jobs/${job.id}`, { body }), t('users.done'));
  };
  const paused = data?.status.state === 'paused';
  return (
    <Page title={t('jobs.title')} error={error}>
      {data && (
        <>
          <p>
            {t('jobs.state', { state: data.status.state })} ({data.status.timezone}){' '}
            <button type="button" onClick={() => act(() => api('POST', `/api/system/scheduler/${paused ? 'resume' : 'pause'}`))}>
              {paused ? t('jobs.resumeAll') : t('jobs.pauseAll')}
            </button>
          </p>
          <table class="numbers">
            <thead><tr><th>{t('jobs.id')}</th><th>{t('jobs.trigger')}</th><th>{t('jobs.schedule')}</th><th>{t('jobs.enabled')}</th><th>{t('jobs.last')}</th><th>{t('jobs.result')}</th><th>{t('jobs.next')}</th><th /></tr></thead>
            <tbody>
              {data.jobs.map((j) => (
                <tr data-job-id={j.id}>
                  <td title={j.description}>{j.id}</td>
                  <td>{j.trigger}</td>
                  <td><code>{j.schedule || j.interval}</code></td>
                  <td>{j.enabled ? t('common.yes') : t('common.no')}</td>
                  <td>{formatDate(j.last_run)}</td>
                  <td class="result">{typeof j.last_result === 'string' ? j.last_result : j.last_result ? JSON.stringify(j.last_result) : ''}</td>
                  <td>{formatDate(j.next_run)}</td>
                  <td class="tools">
                    <button type="button" class="link" onClick={() => act(() => api('POST', `/api/system/scheduler/jobs/${j.id}/run`), t('jobs.started', { id: j.id }))}>{t('jobs.run')}</button>
                    <button type="button" class="link" onClick={() => act(() => api('PUT', `/api/system/scheduler/jobs/${j.id}`, { body: { enabled: !j.enabled } }))}>{j.enabled ? t('jobs.pause') : t('jobs.resume')}</button>
                    <button type="button" class="link" onClick={() => change(j)}>{t('jobs.change')}</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Page>
  );
}

export function Backups() {
  const { data, error, act } = useLoaded(() => api('GET', '/api/system/backups').then((r) => r.data.items));
  return (
    <Page title={t('backups.title')} error={error}>
      <p><button type="button" class="primary" onClick={() => act(() => api('POST', '/api/system/backups'), (r) => r.data.name)}>{t('backups.create')}</button></p>
      {data && data.length === 0 && <p class="hint">{t('backups.none')}</p>}
      <table class="numbers">
        <thead><tr><th>{t('backups.name')}</th><th>{t('backups.created')}</th><th>{t('backups.size')}</th><th /></tr></thead>
        <tbody>
          {(data || []).map((b) => (
            <tr data-backup={b.name}>
              <td><code>{b.name}</code></td>
              <td>{formatDate(b.created_at)}</td>
              <td class="num">{formatNumber(b.size_bytes / 1024, 1)} KB</td>
              <td class="tools">
                <button type="button" class="link" onClick={() => act(() => api('POST', `/api/system/backups/${encodeURIComponent(b.name)}/verify`),
                  (r) => t('backups.ok', { name: r.data.name, files: r.data.files }))}>{t('backups.verify')}</button>
                <button type="button" class="link" onClick={() => download(`/api/system/backups/${encodeURIComponent(b.name)}`, b.name).catch(sayError)}>{t('backups.download')}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Page>
  );
}

export function Health() {
  // Read again every few seconds: a person's save of a table file shows up here.
  const { data, error } = useLoaded(() => api('GET', '/api/health').then((r) => r.data), 3000);
  return (
    <Page title={t('health.title')} error={error}>
      {data && (
        <>
          <p>
            {t('health.status')}: <strong data-health={data.status}>{data.status}</strong> · {t('health.version')} {data.version} ·{' '}
            {t('health.uptime', { n: formatNumber(data.uptime_seconds) })}
          </p>
          {data.warnings?.map((w) => <p class="banner">{w}</p>)}
          {data.tables && (
            <>
              <h2>{t('health.tables')}</h2>
              <table class="numbers">
                <thead><tr><th>{t('health.file')}</th><th>{t('health.rows')}</th><th>{t('health.state')}</th></tr></thead>
                <tbody>
                  {data.tables.map((f) => (
                    <tr data-table={f.table} class={f.readable ? '' : 'broken'}>
                      <td><code>{f.file}</code></td>
                      <td class="num">{f.rows == null ? '—' : formatNumber(f.rows)}</td>
                      <td>{f.readable ? t('health.readable') : <ul class="problems">{f.problems.map((p) => <li><code>{p}</code></li>)}</ul>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          {data.components && (
            <>
              <h2>{t('health.components')}</h2>
              <ul class="components">
                {Object.entries(data.components).map(([name, c]) => <li data-component={name}><strong>{name}</strong>: {c.state}</li>)}
              </ul>
            </>
          )}
        </>
      )}
    </Page>
  );
}
