// Starts the real taskboard binary for the browser tests and benchmarks: port 0, its
// own temporary folder, users made with `taskboard user add` as an admin would.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.TASKBOARD_BIN || resolve(here, '../../target/debug/taskboard');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'Board-Test-Passw0rd!';

/** The people of the seeds: a dispatcher (manager), technicians, a client, the lead. */
export const PEOPLE = [
  ['anna', 'admin'],
  ['dispatcher', 'manager'],
  ['ivan', 'member'],
  ['client', 'client'],
  ['petr', 'member'],
];

export async function startServer({ security = true, people = PEOPLE, extraConfig = '', method = 'password' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'taskboard-board-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'security:',
    `  enabled: ${security}`,
    `  validation_method: ${method}`,
    '  rate_limiting:',
    '    requests_per_minute: 1000000',
    'cron:',
    '  enabled: false',
    extraConfig,
    '',
  ].join('\n'));
  const env = { ...process.env, SECRET_KEY: 'board-tests-secret-key-0123456789abcdef', TASKBOARD_CONFIG: config };
  for (const [username, role] of people) {
    const r = spawnSync(BIN, ['user', 'add', '--username', username, '--role', role, '--data-dir', data, '--password-stdin'],
      { input: `${PASSWORD}\n`, env, cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`user add ${username}: ${r.stderr}`);
  }
  const child = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', data],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((ok, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => ok(`http://${line.trim().split('http://').pop()}`));
    child.once('exit', (code) => fail(new Error(`the server exited with ${code}`)));
  });
  const tokens = new Map();
  const server = {
    base, dir, data,
    /** A token for `username`, for API calls beside the browser. */
    async token(username) {
      if (!security) return null;
      if (!tokens.has(username)) {
        const r = await fetch(`${base}/api/auth/login`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }),
        });
        if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
        tokens.set(username, (await r.json()).access_token);
      }
      return tokens.get(username);
    },
    /** `api(username, method, path, body, headers)` → `{status, body, etag}`. */
    async api(username, method, path, body, headers = {}) {
      const token = await server.token(username);
      const r = await fetch(`${base}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null, etag: r.headers.get('etag') };
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((ok) => (child.exitCode != null ? ok() : child.once('exit', ok)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * A fake OpenAI-compatible API (POST /v1/chat/completions) answering `content` as the
 * model's message; `requests` collects what the server sent it.
 */
export async function fakeModel(content) {
  const { createServer } = await import('node:http');
  const requests = [];
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push(JSON.parse(body || '{}'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: 'fake-model', choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify(content) } }] }));
    });
  });
  await new Promise((ok) => http.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${http.address().port}/v1`, requests, close: () => http.close() };
}

/** Logs `username` in through the board's own form. */
export async function logIn(page, server, username) {
  await page.goto(`${server.base}/board/`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-connection="live"]');
}

/** Collects console errors and page errors of `page`, minus the ones `allowed` matches. */
export function watchConsole(page, allowed = []) {
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && !allowed.some((re) => re.test(m.text())) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/**
 * A fake Telegram Bot API (POST /bot<token>/<method>, method names in any case as in the
 * real one): getMe, getUpdates with long polling, sendMessage, answerCallbackQuery.
 * `message(from, text)` queues a user's message for the bot; `sent` collects what the
 * bot sent.
 */
export async function fakeTelegram(token) {
  const { createServer } = await import('node:http');
  const sent = [];
  const updates = [];
  let nextUpdate = 1;
  let waiting = [];
  const wake = () => { for (const w of waiting) w(); waiting = []; };
  const reply = (res, result) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, result }));
  };
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const [, bot, method = ''] = req.url.split('/');
      const params = JSON.parse(body || '{}');
      if (bot !== `bot${token}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
        return;
      }
      switch (method.toLowerCase()) {
        case 'getme':
          return reply(res, { id: 4242, is_bot: true, first_name: 'Board bot', username: 'board_test_bot',
            can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
            can_connect_to_business: false, has_main_web_app: false });
        case 'getupdates': {
          const offset = params.offset || 0;
          const deadline = Date.now() + (params.timeout || 0) * 1000;
          for (;;) {
            while (updates.length && updates[0].update_id < offset) updates.shift();
            if (updates.length || Date.now() >= deadline) return reply(res, updates.slice(0, params.limit || 100));
            await new Promise((ok) => { waiting.push(ok); setTimeout(ok, deadline - Date.now()); });
          }
        }
        case 'sendmessage':
          sent.push(params);
          return reply(res, { message_id: 100 + sent.length, date: Math.floor(Date.now() / 1000),
            chat: { id: params.chat_id, type: 'private' }, text: params.text });
        case 'editmessagetext':
          // As Telegram answers: the edited message.
          return reply(res, { message_id: params.message_id, date: Math.floor(Date.now() / 1000),
            chat: { id: params.chat_id, type: 'private' }, text: params.text });
        default:
          return reply(res, true);
      }
    });
  });
  await new Promise((ok) => http.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${http.address().port}`,
    sent,
    message(from, text, language) {
      const user = { id: from, is_bot: false, first_name: 'Tester', ...(language ? { language_code: language } : {}) };
      updates.push({ update_id: nextUpdate++, message: { message_id: nextUpdate, date: Math.floor(Date.now() / 1000),
        chat: { id: from, type: 'private', first_name: 'Tester' }, from: user, text } });
      wake();
    },
    /** A press of an inline button by `from` on a message in their chat. */
    press(from, data) {
      const user = { id: from, is_bot: false, first_name: 'Tester' };
      updates.push({ update_id: nextUpdate++, callback_query: { id: `cb${nextUpdate}`, from: user, chat_instance: 'ci', data,
        message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: { id: from, type: 'private' }, text: '…' } } });
      wake();
    },
    close: () => { wake(); http.closeAllConnections?.(); http.close(); },
  };
}
