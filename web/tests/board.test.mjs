// Browser tests of the board: Debian's Chromium driven by playwright-core against the
// real server (started per suite with its own folder). Run by .ci/run after the Rust
// tests: `cd web && npm test` (TASKBOARD_BIN names the binary; default
// ../target/debug/taskboard). Screenshots land in docs/screenshots/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, logIn, startServer, watchConsole } from './server.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
let browser;
let server;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function fresh(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', ...options });
  const page = await context.newPage();
  return { context, page };
}

const card = (page, id) => page.locator(`[data-task-id="${id}"]`);
const columnOf = (page, id) => card(page, id).evaluate((el) => el.closest('[data-status]').dataset.status);

async function newTask(fields, by = 'dispatcher') {
  const r = await server.api(by, 'POST', '/api/tasks', fields);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** Waits until task `id` stands in column `status` on `page`; answers how long it took. */
async function waitInColumn(page, id, status, timeout = 1000) {
  const start = Date.now();
  await page.locator(`[data-status="${status}"] [data-task-id="${id}"]`).waitFor({ timeout });
  return Date.now() - start;
}

describe('the board', () => {
  test('logs in, stays logged in across a reload, and logs out', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await page.goto(`${server.base}/board/`);
    await page.fill('input[name="username"]', 'anna');
    await page.fill('input[name="password"]', 'wrong-password-1');
    await page.click('button[type="submit"]');
    await page.locator('.login [role="alert"]').waitFor();
    await logIn(page, server, 'anna');
    await page.reload();
    await page.waitForSelector('[data-connection="live"]');
    assert.equal(await page.locator('[data-user]').getAttribute('data-user'), 'anna');
    await page.click('text=Log out');
    await page.waitForSelector('input[name="username"]');
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
    await context.close();
  });

  test('creates a task through the form', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await page.click('text=New task');
    await page.fill('dialog input[name="title"]', 'Починить стиральную машину');
    await page.fill('dialog textarea[name="description"]', 'Не сливает воду');
    await page.selectOption('dialog select[name="priority"]', 'high');
    await page.click('dialog button[type="submit"]');
    await page.waitForURL(/\/board\/tasks\/\d+$/);
    const id = Number(page.url().split('/').pop());
    await page.keyboard.press('Escape');
    await waitInColumn(page, id, 'new');
    const stored = await server.api('dispatcher', 'GET', `/api/tasks/${id}`);
    assert.equal(stored.body.priority, 'high');
    assert.equal(stored.body.description, 'Не сливает воду');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a card dragged in one browser moves in another within a second', async () => {
    const task = await newTask({ title: 'Drag me', priority: 'critical' });
    const a = await fresh();
    const b = await fresh();
    const errors = [...[a, b].map(({ page }) => watchConsole(page))];
    await logIn(a.page, server, 'dispatcher');
    await logIn(b.page, server, 'anna');
    await waitInColumn(b.page, task.id, 'new');
    await card(a.page, task.id).dragTo(a.page.locator('[data-status="in_progress"] ul'));
    await waitInColumn(a.page, task.id, 'in_progress');
    const took = await waitInColumn(b.page, task.id, 'in_progress', 1000);
    assert.ok(took < 1000, `seen after ${took} ms`);
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.status, 'in_progress');
    assert.deepEqual(errors.flat(), []);
    await a.context.close();
    await b.context.close();
  });

  test('moves by keyboard and by the "Move to…" menu', async () => {
    const task = await newTask({ title: 'Keyboard move' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await card(page, task.id).focus();
    await page.keyboard.press('Shift+ArrowRight');
    await waitInColumn(page, task.id, 'in_progress');
    await page.keyboard.press('Shift+ArrowRight');
    await waitInColumn(page, task.id, 'done');
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.status, 'done');
    await card(page, task.id).hover();
    await card(page, task.id).locator('button.move').click();
    await page.click(`[data-task-id="${task.id}"] [data-move-to="cancelled"]`);
    await waitInColumn(page, task.id, 'cancelled');
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.status, 'cancelled');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a stale move is put back and says who changed the task', async () => {
    const task = await newTask({ title: 'Contested' });
    const { context, page } = await fresh();
    // Hold the server's messages back, so that the board keeps showing the old version.
    let paused = false;
    await page.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((m) => !paused && ws.send(m));
    });
    const errors = watchConsole(page, [/412/]);
    await logIn(page, server, 'dispatcher');
    await waitInColumn(page, task.id, 'new');
    paused = true;
    const r = await server.api('ivan', 'GET', `/api/tasks/${task.id}`);
    const changed = await server.api('anna', 'PATCH', `/api/tasks/${task.id}`, { status: 'done' }, { 'if-match': r.etag });
    assert.equal(changed.status, 200);
    await card(page, task.id).locator('button.move').click({ force: true });
    await page.click(`[data-task-id="${task.id}"] [data-move-to="in_progress"]`);
    await waitInColumn(page, task.id, 'done', 2000);
    const notice = await page.locator('[data-notice="error"]').textContent();
    assert.match(notice, new RegExp(`#${task.id}.*anna`));
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.status, 'done');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an edit of data/tasks.csv shows up on an open board', async () => {
    const task = await newTask({ title: 'Before the file edit' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    await waitInColumn(page, task.id, 'new');
    // The server folds its changes into the file within half a second.
    const file = join(server.data, 'tasks.csv');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('Before the file edit'); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      text = readFileSync(file, 'utf8');
    }
    writeFileSync(file, text.replace('Before the file edit', 'Edited in a spreadsheet'));
    await page.locator(`[data-task-id="${task.id}"] >> text=Edited in a spreadsheet`).waitFor({ timeout: 3000 });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a dropped connection comes back with nothing missed', async () => {
    const { context, page } = await fresh();
    const sockets = [];
    await page.routeWebSocket(/\/ws$/, (ws) => {
      ws.connectToServer();
      sockets.push(ws);
    });
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    const moved = await newTask({ title: 'Moves while offline' });
    await waitInColumn(page, moved.id, 'new');
    const before = await server.api('anna', 'GET', `/api/tasks/${moved.id}`);
    await sockets[0].close();
    await page.waitForSelector('[data-connection="offline"], [data-connection="connecting"]');
    const created = await newTask({ title: 'Made while offline' });
    await server.api('anna', 'PATCH', `/api/tasks/${moved.id}`, { status: 'in_progress' }, { 'if-match': before.etag });
    await page.waitForSelector('[data-connection="live"]', { timeout: 10000 });
    await waitInColumn(page, created.id, 'new', 3000);
    await waitInColumn(page, moved.id, 'in_progress', 3000);
    assert.ok(sockets.length >= 2, 'the board opened a second socket');
    // The replayed move carried only the changed field; a later move must still work.
    await card(page, moved.id).focus();
    await page.keyboard.press('Shift+ArrowRight');
    await waitInColumn(page, moved.id, 'done');
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${moved.id}`)).body.status, 'done');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a client sees only their own requests', async () => {
    const mine = await newTask({ title: 'Client request' }, 'client');
    const other = await newTask({ title: 'Not for the client' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'client');
    await waitInColumn(page, mine.id, 'new');
    assert.equal(await card(page, other.id).count(), 0);
    const ids = await page.locator('[data-task-id]').evaluateAll((els) => els.map((e) => Number(e.dataset.taskId)));
    const all = (await server.api('anna', 'GET', '/api/tasks?per_page=500')).body.items;
    const theirs = all.filter((t) => t.created_by === mine.created_by).map((t) => t.id);
    assert.deepEqual(ids.sort(), theirs.sort());
    await page.locator('text=My requests').waitFor();
    assert.equal(await page.locator('a:has-text("Users")').count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the task detail edits fields, comments, uploads and tells the history', async () => {
    const task = await newTask({ title: 'Detail', assigned_to: 3 });
    await server.api('dispatcher', 'POST', `/api/tasks/${task.id}/comments`, { message: 'Клиент перезвонит' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    await page.locator('dialog input[name="title"]').waitFor();
    await page.fill('dialog input[name="title"]', 'Detail, renamed');
    await page.selectOption('dialog select[name="status"]', 'in_progress');
    await page.click('dialog .task-form button[type="submit"]');
    await page.locator('[data-notice="info"]').waitFor();
    const stored = (await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body;
    assert.equal(stored.title, 'Detail, renamed');
    assert.equal(stored.status, 'in_progress');
    await page.fill('dialog .add-comment textarea', 'Запчасть заказана');
    await page.click('dialog .add-comment button');
    await page.locator('dialog .comments >> text=Запчасть заказана').waitFor();
    await page.setInputFiles('dialog input[type="file"]', { name: 'act.txt', mimeType: 'text/plain', buffer: Buffer.from('акт выполненных работ') });
    await page.locator('dialog .documents >> text=act.txt').waitFor();
    await page.locator('dialog .history li', { hasText: 'dispatcher' }).first().waitFor();
    const history = await page.locator('dialog .history').textContent();
    assert.match(history, /dispatcher created it/);
    assert.match(history, /moved it to In progress|changed/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'task-detail.png') });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the statistics page draws its charts, and the admin pages show the files', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    await page.click('a:has-text("Statistics")');
    for (const chart of ['by-status', 'by-assignee', 'per-day', 'overdue']) {
      await page.locator(`[data-chart="${chart}"] canvas`).waitFor();
    }
    await page.screenshot({ path: join(SHOTS, 'stats.png'), fullPage: true });
    for (const [link, marker] of [['Users', '[data-user-id]'], ['Scheduler', '[data-job-id]'], ['Health', '[data-table="tasks"]']]) {
      await page.click(`nav a:has-text("${link}")`);
      await page.locator(marker).first().waitFor();
    }
    await page.click('nav a:has-text("Backups")');
    await page.click('text=Back up now');
    await page.locator('[data-backup]').first().waitFor();
    await page.locator('[data-backup] button:has-text("Verify")').first().click();
    await page.locator('[data-notice="info"]', { hasText: 'match the manifest' }).waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a broken table file shows its file:line:column to the admin', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    writeFileSync(join(server.data, 'docs.csv'), 'id,title\n1,"unclosed\n');
    await page.click('nav a:has-text("Health")');
    await page.locator('[data-table="docs"].broken >> text=docs.csv:2:').waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('Russian and English both render; the choice is kept', async () => {
    const { context, page } = await fresh({ locale: 'ru-RU' });
    const errors = watchConsole(page);
    await page.goto(`${server.base}/board/`);
    await page.locator('text=Вход в taskboard').waitFor();
    await logIn(page, server, 'anna');
    await page.locator('[data-status="in_progress"] h2', { hasText: 'В работе' }).waitFor();
    await page.locator('nav a', { hasText: 'Статистика' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'board-ru.png') });
    await page.selectOption('select[name="language"]', 'en');
    await page.locator('[data-status="in_progress"] h2', { hasText: 'In progress' }).waitFor();
    await page.reload();
    await page.locator('[data-status="in_progress"] h2', { hasText: 'In progress' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'board.png') });
    assert.deepEqual(errors, []);
    await context.close();
  });
});
