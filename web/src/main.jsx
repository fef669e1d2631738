// The board's shell: who is logged in, the navigation, the page for the URL, and the
// messages line. Each page lives in views/.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { notice, say } from './notice.js';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { adopt, api, login, logout, me, resume, session, settings } from './api.js';
import { lang, languages, setLang, t } from './i18n.js';
import { connection, loaded, start, stop } from './live.js';
import { canKeepRecurring, isAdmin, isClient, isStaff, loadDirectory } from './people.js';
import { Link, navigate, route } from './router.jsx';
import { Board } from './views/Board.jsx';
import { TaskDialog } from './views/TaskDialog.jsx';
import { Users, Scheduler, Backups, Health } from './views/Admin.jsx';
import { LinkTelegram } from './views/LinkTelegram.jsx';
import { MyDay } from './views/MyDay.jsx';
import { Recurring } from './views/Recurring.jsx';
import { Calendar } from './views/Calendar.jsx';
import { pending, sendPending } from './offline.js';
import { settlePending } from './views/Board.jsx';

/** Ready: who the caller is is known (or there is nobody logged in). */
const ready = signal(false);

async function whoAmI() {
  if (settings.security_enabled && !session.value) await resume();
  if (settings.security_enabled && !session.value) {
    me.value = null;
    ready.value = true;
    return;
  }
  try {
    const { data } = await api('GET', '/api/auth/me');
    me.value = data;
  } catch {
    me.value = null;
  }
  ready.value = true;
}

/** Log in through the bot: the request's number, the deep link, and a poll until the
 * bound account presses the number (200), cancels (403) or the request expires (410). */
function TelegramLogin({ setError }) {
  const [request, setRequest] = useState(null);
  useEffect(() => {
    if (!request) return undefined;
    let stopped = false;
    const timer = setInterval(async () => {
      const r = await fetch(`/api/auth/telegram/login/${request.request_id}`, { headers: { 'x-refresh-cookie': '1' } })
        .catch(() => null);
      if (stopped || !r || r.status === 202) return;
      clearInterval(timer);
      if (r.status === 200) {
        adopt(await r.json());
        await whoAmI();
      } else {
        setRequest(null);
        setError(t(r.status === 403 ? 'login.tg.refused' : 'login.tg.expired'));
      }
    }, 1500);
    return () => { stopped = true; clearInterval(timer); };
  }, [request]);
  const begin = async () => {
    setError('');
    const r = await fetch('/api/auth/telegram/login', { method: 'POST' });
    const body = await r.json().catch(() => null);
    if (!r.ok) return setError(body?.detail || r.statusText);
    setRequest(body);
  };
  if (!request) {
    return <button type="button" data-action="telegram-login" onClick={begin}>{t('login.tg.start')}</button>;
  }
  return (
    <div class="telegram-login" data-telegram-login={request.request_id}>
      <p>{t('login.tg.match')}</p>
      <p class="match" data-match={request.match} aria-live="polite">{request.match}</p>
      {request.deep_link && <a class="primary" href={request.deep_link} target="_blank" rel="noopener">{t('login.tg.open')}</a>}
      <p>{t('login.tg.or')} <code data-code={request.code}>/start login-{request.code}</code></p>
    </div>
  );
}

/** Telegram's Login Widget (`telegram.login_widget`): its script, from telegram.org,
 * draws the button; the signed payload it hands back logs in through the API. */
function TelegramWidget({ setError }) {
  const box = useRef(null);
  useEffect(() => {
    let gone = false;
    window.taskboardTelegramAuth = async (user) => {
      const r = await fetch('/api/auth/telegram', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-refresh-cookie': '1' }, body: JSON.stringify(user),
      });
      const body = await r.json().catch(() => null);
      if (!r.ok) return setError(body?.detail || r.statusText);
      adopt(body);
      await whoAmI();
    };
    fetch('/api/auth/telegram/bot').then((r) => (r.ok ? r.json() : null)).then((bot) => {
      if (gone || !bot?.username || !box.current) return;
      const script = document.createElement('script');
      script.src = 'https://telegram.org/js/telegram-widget.js?22';
      script.async = true;
      script.dataset.telegramLogin = bot.username;
      script.dataset.size = 'large';
      script.dataset.onauth = 'taskboardTelegramAuth(user)';
      script.dataset.requestAccess = 'write';
      box.current.appendChild(script);
    }).catch(() => {});
    return () => { gone = true; };
  }, []);
  return <div ref={box} class="telegram-widget" data-telegram-widget />;
}

function Login() {
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    setError('');
    try {
      await login(form.get('username'), form.get('password'));
      await whoAmI();
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} class="card-panel">
        <h1>{t('login.title')}</h1>
        {settings.password_login !== false && <>
          <label>{t('login.username')}<input name="username" autocomplete="username" required autofocus /></label>
          <label>{t('login.password')}<input name="password" type="password" autocomplete="current-password" required /></label>
          <button type="submit" class="primary">{t('login.submit')}</button>
        </>}
        {error && <p class="error" role="alert">{error}</p>}
        {settings.telegram_login && settings.password_login !== false && <p class="or">{t('login.telegram')}</p>}
        {settings.telegram_login && <TelegramLogin setError={setError} />}
        {settings.telegram_widget && <TelegramWidget setError={setError} />}
      </form>
      <Language />
    </main>
  );
}

function ChangePassword() {
  const [error, setError] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      const { data } = await api('PUT', '/api/auth/password', {
        body: { current_password: form.get('current_password'), new_password: form.get('new_password') },
      });
      adopt(data);
      await whoAmI();
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} class="card-panel">
        <p>{t('login.change')}</p>
        <label>{t('login.current')}<input name="current_password" type="password" required /></label>
        <label>{t('login.new')}<input name="new_password" type="password" required /></label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary">{t('login.save')}</button>
      </form>
    </main>
  );
}

function Language() {
  return (
    <label class="language">
      <span class="sr-only">{t('app.language')}</span>
      <select name="language" value={lang.value} onChange={(e) => setLang(e.target.value)}>
        {languages.map((l) => <option value={l}>{l === 'en' ? 'English' : 'Русский'}</option>)}
      </select>
    </label>
  );
}

/** The message line, in the top layer (a popover), so that it shows above an open
 * task dialog too. */
function Notice({ kind, text }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    if (el?.showPopover && !el.matches(':popover-open')) el.showPopover();
  }, [text, kind]);
  return (
    <p ref={ref} popover="manual" class={`notice ${kind}`} role={kind === 'error' ? 'alert' : 'status'} data-notice={kind}>
      {text}
    </p>
  );
}

function Nav() {
  const path = route.value.path;
  const item = (to, key) => (
    <Link to={to} class={path === to || (to === '/' && path.startsWith('/tasks')) ? 'active' : ''}>{t(key)}</Link>
  );
  return (
    <header class="top">
      <strong class="brand">taskboard</strong>
      <nav>
        {me.value?.id != null && !isClient() && item('/my', 'app.my')}
        {item('/', 'app.board')}
        {item('/calendar', 'app.calendar')}
        {item('/stats', 'app.stats')}
        {isAdmin() && item('/admin/users', 'app.users')}
        {isAdmin() && item('/admin/scheduler', 'app.scheduler')}
        {isAdmin() && item('/admin/backups', 'app.backups')}
        {canKeepRecurring() && item('/recurring', 'app.recurring')}
        {isStaff() && item('/admin/health', 'app.health')}
      </nav>
      <span class={`connection ${connection.value}`} data-connection={connection.value}>
        {connection.value === 'live' ? t('app.live') : t('app.offline')}
      </span>
      {pending.value.length > 0 && <span class="connection waiting" data-pending-count={pending.value.length}>{t('offline.count', { n: pending.value.length })}</span>}
      <Language />
      <Link to="/profile" class="who" data-user={me.value?.username}>{me.value?.name || me.value?.username} · {t(`role.${me.value?.role}`)}</Link>
      {settings.security_enabled && settings.telegram_link && <LinkTelegram />}
      {settings.security_enabled && <button class="link" onClick={() => logout().then(() => navigate('/'))}>{t('app.logout')}</button>}
    </header>
  );
}

/** One's own name, phone, email and language (`PATCH /api/auth/me`). */
function Profile() {
  const [error, setError] = useState('');
  if (me.value?.id == null) return <main class="page"><p>{t('app.anonymous')}</p></main>;
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const body = {};
    for (const name of ['full_name', 'phone', 'email', 'language']) body[name] = String(form.get(name) ?? '');
    setError('');
    try {
      const { data } = await api('PATCH', '/api/auth/me', { body });
      me.value = data;
      if (data.language) setLang(data.language);
      say(t('profile.saved'));
    } catch (err) {
      setError(err.message);
    }
  };
  const m = me.value;
  return (
    <main class="page profile">
      <h1>{t('profile.title')}</h1>
      {/* Uncontrolled: a live update re-rendering the page must not undo typing. */}
      <form class="card-panel" onSubmit={submit} key={m.id}>
        <label>{t('users.fullName')}<input name="full_name" defaultValue={m.full_name || ''} maxLength={200} /></label>
        <label>{t('users.phone')}<input name="phone" type="tel" defaultValue={m.phone || ''} placeholder="+7 900 123-45-67" /></label>
        <label>{t('profile.email')}<input name="email" type="email" defaultValue={m.email || ''} /></label>
        <label>{t('app.language')}
          <select name="language">
            <option value="" selected={!m.language}>{t('profile.browser')}</option>
            {languages.map((l) => <option value={l} selected={m.language === l}>{l === 'en' ? 'English' : 'Русский'}</option>)}
          </select>
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary">{t('profile.save')}</button>
      </form>
    </main>
  );
}

/** For those who run the team: a table file a person saved broken, where, and that
 * work goes on meanwhile (the server keeps every write and merges it into the fix). */
function BrokenFiles() {
  const [files, setFiles] = useState([]);
  const role = me.value?.role;
  const runsTeam = ['admin', 'manager', 'supervisor'].includes(role);
  useEffect(() => {
    if (!runsTeam) return undefined;
    let stopped = false;
    const look = () => api('GET', '/api/health')
      .then(({ data }) => { if (!stopped) setFiles(data.broken_files || []); })
      .catch(() => {});
    look();
    // Looked at again on every page change, and every 15 s.
    const timer = setInterval(look, 15000);
    return () => { stopped = true; clearInterval(timer); };
  }, [runsTeam, route.value.path]);
  if (!files.length) return null;
  return (
    <div class="banner broken-files" role="alert" data-broken-files={files.length}>
      {files.map((f) => (
        <p data-broken-file={f.file}>
          <strong>{t('broken.title', { file: f.file })}</strong> <code>{f.problem}</code>
          {' '}{t(f.writable ? 'broken.goesOn' : 'broken.stopped')}
        </p>
      ))}
    </div>
  );
}

/** Statistics and its chart library load when first opened: the first card of the
 *  board does not wait for them. */
const statsView = signal(null);
function LazyStats() {
  if (!statsView.value) {
    import('./views/Stats.jsx').then((m) => { statsView.value = m.Stats; });
    return <p class="loading">{t('app.loading')}</p>;
  }
  const Stats = statsView.value;
  return <Stats />;
}

function Page() {
  const { path } = route.value;
  if (path === '/profile') return <Profile />;
  if (path === '/my') return <MyDay />;
  if (path === '/stats') return <LazyStats />;
  if (path === '/admin/users') return <Users />;
  if (path === '/admin/scheduler') return <Scheduler />;
  if (path === '/admin/backups') return <Backups />;
  if (path === '/recurring') return <Recurring />;
  if (path === '/calendar') return <Calendar />;
  if (path === '/admin/health') return <Health />;
  const task = path.match(/^\/tasks\/(\d+)$/);
  return (
    <>
      <Board />
      {task && <TaskDialog id={Number(task[1])} key={task[1]} />}
      {path === '/new' && <TaskDialog id={null} key="new" />}
    </>
  );
}

/** Where a person lands, once per visit: a technician on a phone opening the board's
 *  front page gets "My day"; a link to anywhere else is followed as it is. */
let landed = false;
function land(user) {
  if (landed) return;
  landed = true;
  const { path, query } = route.value;
  const phone = matchMedia('(max-width: 640px)').matches;
  if (path === '/' && [...query.keys()].length === 0 && user.role === 'member' && phone) {
    navigate('/my', { replace: true });
  }
}

// What was changed offline goes when the network is back (the browser says so, or the
// live connection comes up again).
addEventListener('online', () => sendPending(settlePending));
connection.subscribe((state) => state === 'live' && sendPending(settlePending));

function App() {
  const user = me.value;
  useEffect(() => {
    if (!user) return undefined;
    land(user);
    loadDirectory();
    start();
    return () => stop();
  }, [user?.id, user?.username]);
  lang.value; // re-render every page when the language changes
  if (!ready.value) return <p class="loading">{t('app.loading')}</p>;
  if (!user) return <Login />;
  if (user.must_change_password) return <ChangePassword />;
  return (
    <>
      <Nav />
      {!settings.security_enabled && <p class="banner" role="note">{t('app.anonymous')}</p>}
      <BrokenFiles />
      {notice.value && <Notice {...notice.value} />}
      <Page />
    </>
  );
}

// Installable, and the page opens without a network (src/sw.js). Not where the
// browser refuses it (no secure context): the board works the same without it.
// Registered once the first cards are drawn: what it keeps for later does not compete
// with them on a slow link.
if ('serviceWorker' in navigator) {
  const off = loaded.subscribe((ready) => {
    if (!ready) return;
    setTimeout(() => off(), 0);
    navigator.serviceWorker.register('/board/sw.js', { scope: '/board/' }).catch(() => {});
  });
}

document.documentElement.lang = lang.value;
whoAmI();
render(<App />, document.getElementById('app'));
