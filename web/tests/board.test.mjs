// Browser tests of the board: Debian's Chromium driven by playwright-core against the
// real server (started per suite with its own folder). Run by .ci/run after the Rust
// tests: `cd web && npm test` (TASKBOARD_BIN names the binary; default
// ../target/debug/taskboard). Screenshots land in docs/screenshots/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CHROMIUM, fakeModel, fakeTelegram, logIn, startServer, watchConsole } from './server.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const AXE = resolve(import.meta.dirname, '../node_modules/axe-core/axe.min.js');

/** A PNG of `w` x `h`: a gradient with some grain, as a phone photo has (so that it
 * does not compress to nothing). */
function photo(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let seed = 7;
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const grain = seed & 15;
      raw[row + 1 + x * 3] = (x * 255 / w + grain) & 255;
      raw[row + 2 + x * 3] = (y * 255 / h + grain) & 255;
      raw[row + 3 + x * 3] = 128 + grain;
    }
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 1 })), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c;
}

/** The width and height a JPEG's frame header gives. */
function jpegSize(bytes) {
  for (let i = 2; i < bytes.length - 9;) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker >= 0xc0 && marker <= 0xc2) return { height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
    i += 2 + bytes.readUInt16BE(i + 2);
  }
  return null;
}

/** axe-core's serious and critical findings (WCAG 2 A and AA) on the page as it is. */
async function accessibilityProblems(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  return found;
}
let browser;
let server;
let model;
let telegram;
const BOT_TOKEN = '4242:board-test-bot-token';

/** What the fake model answers: its summary tries to smuggle markup into the page. */
const ANALYSIS = {
  summary: 'Drum bearing worn <img src=x onerror="window.hacked=1">',
  suggested_priority: 'high',
  priority_rationale: 'the customer has no washing machine',
  risk_flags: [{ kind: 'parts', severity: 'medium', detail: 'the bearing kit may take a week' }],
  subtasks: [{ title: 'Order the bearing kit', estimate_hours: 0.5 }],
  effort: { size: 'M', hours_min: 2, hours_max: 4, confidence: 0.7 },
  possible_duplicates: [],
  clarifying_questions: ['Which model is it?'],
};

/** A repair service's morning: what the screenshots show beside the tests' own tasks. */
async function seed() {
  const day = (offset) => new Date(Date.now() + offset * 86400e3).toISOString().slice(0, 10);
  const tasks = [
    { title: 'Замена компрессора холодильника Bosch', priority: 'high', assigned_to: 3, due_date: day(1) },
    { title: 'Стиральная машина не сливает воду', priority: 'critical', assigned_to: 5, due_date: day(-1) },
    { title: 'Диагностика посудомоечной машины', priority: 'medium', due_date: day(3) },
    { title: 'Заказать уплотнитель двери', priority: 'low', assigned_to: 5 },
    { title: 'Выезд к клиенту: духовой шкаф', priority: 'high', assigned_to: 3, due_date: day(0) },
    { title: 'Плановое ТО кондиционеров офиса', priority: 'medium', assigned_to: 5, due_date: day(7) },
  ];
  const made = [];
  for (const task of tasks) made.push((await server.api('dispatcher', 'POST', '/api/tasks', task)).body);
  for (const [i, status] of [[0, 'in_progress'], [4, 'in_progress'], [5, 'done']]) {
    await server.api('dispatcher', 'PATCH', `/api/tasks/${made[i].id}`, { status }, { 'if-match': '*' });
  }
  await server.api('ivan', 'POST', `/api/tasks/${made[0].id}/comments`, { message: 'Компрессор заказан, будет в четверг' });
  await server.api('dispatcher', 'POST', `/api/tasks/${made[1].id}/comments`, { message: 'Клиент ждёт звонка до 12:00' });
}

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  model = await fakeModel(ANALYSIS);
  telegram = await fakeTelegram(BOT_TOKEN);
  server = await startServer({
    extraConfig: [
      'telegram:', `  bot_token: ${BOT_TOKEN}`, `  api_url: ${telegram.url}`,
      'llm:', '  enabled: true', `  base_url: ${model.url}`, '  api_key: test-key', '  model: fake-model',
      'tasks:', '  fields:', '    - {name: techtype, type: enum, values: [washer, fridge, oven]}',
      'feedback:', '  form_url: https://forms.example/rate',
    ].join('\n'),
  });
  await seed();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  model?.close();
  telegram?.close();
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

/** Waits until the server has task `id` in `status` (a board shows a move at once and
 * sends it meanwhile). */
async function stored(id, status) {
  let now;
  for (let i = 0; i < 40; i++) {
    now = (await server.api('anna', 'GET', `/api/tasks/${id}`)).body.status;
    if (now === status) return;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  assert.equal(now, status, `task ${id} on the server`);
}

/** A mouse drag as a person makes it: press, move in steps, pause over the target, let go. */
async function drag(page, from, to) {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 10, a.y + a.height / 2 + 10, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height - 30, { steps: 15 });
  await page.waitForTimeout(50);
  await page.mouse.up();
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

  test('server errors come in the board\'s language, and show above an open dialog', async () => {
    const { context, page } = await fresh({ locale: 'ru-RU' });
    await page.goto(`${server.base}/board/`);
    await page.fill('input[name="username"]', 'anna');
    await page.fill('input[name="password"]', 'wrong-password-1');
    await page.click('button[type="submit"]');
    assert.match(await page.locator('.login [role="alert"]').textContent(), /неверное имя пользователя или пароль/);
    await logIn(page, server, 'anna');
    // A change the server refuses, made from the open task dialog: the message is in
    // Russian and in the top layer, above the dialog.
    const task = (await server.api('anna', 'POST', '/api/tasks', { title: 'Ошибка поверх окна' })).body;
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    await page.locator('dialog input[name="title"]').waitFor();
    await page.fill('dialog input[name="title"]', '=1+1');
    await page.click('dialog .task-form button[type="submit"]');
    const notice = page.locator('[data-notice="error"]');
    await notice.waitFor();
    assert.match(await notice.textContent(), /формула/);
    assert.equal(await notice.evaluate((el) => el.matches(':popover-open')), true);
    await page.screenshot({ path: join(SHOTS, 'error-above-dialog-ru.png') });
    await context.close();
  });

  test('a technician takes a request from the pool with "Take it"', async () => {
    const task = await newTask({ title: 'Pool job' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'petr');
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    // A member is not offered due date, priority or assignee on a task.
    await page.click('dialog [data-action="take"]');
    await page.locator('[data-notice="info"]').waitFor();
    const stored = (await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body;
    const petr = (await server.api('anna', 'GET', '/api/users?username=petr')).body.items[0];
    assert.equal(stored.assigned_to, petr.id);
    assert.equal(await page.locator('dialog [data-action="take"]').count(), 0, 'taken: no longer offered');
    assert.equal(await page.locator('dialog select[name="priority"]').count(), 0, 'a member does not set the priority');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a person sets their own name, phone and language in the profile', async () => {
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 } });
    const errors = watchConsole(page);
    await logIn(page, server, 'ivan');
    await page.click('[data-user]');
    await page.fill('input[name="full_name"]', 'Иван Петров');
    await page.fill('input[name="phone"]', '+7 900 123-45-67');
    await page.selectOption('.profile select[name="language"]', 'ru');
    await page.click('.profile button[type="submit"]');
    await page.locator('[data-notice="info"]').waitFor();
    const stored = (await server.api('anna', 'GET', '/api/users?username=ivan')).body.items[0];
    assert.equal(stored.full_name, 'Иван Петров');
    assert.equal(stored.phone, '+7 900 123-45-67');
    assert.equal(stored.language, 'ru');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ru');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'fits a phone');
    await page.screenshot({ path: join(SHOTS, 'profile-ru.png') });
    // Back to English for the tests after this one.
    await page.selectOption('.profile select[name="language"]', '');
    await page.click('.profile button[type="submit"]');
    await page.locator('[data-notice="info"]').waitFor();
    await page.evaluate(() => localStorage.removeItem('taskboard.lang'));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('on a phone a technician lands on "My day": overdue first, status in one tap, a call button', async () => {
    assert.equal((await server.api('anna', 'PATCH', '/api/users/4', { phone: '+7 (900) 111-22-33' }, { 'if-match': '*' })).status, 200);
    const request = (await server.api('client', 'POST', '/api/tasks', { title: 'Не греет бойлер' })).body;
    const today = new Date().toISOString().slice(0, 10);
    await server.api('dispatcher', 'PATCH', `/api/tasks/${request.id}`, { assigned_to: 5, due_date: today }, { 'if-match': '*' });
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 }, locale: 'ru-RU', hasTouch: true, isMobile: true });
    const errors = watchConsole(page);
    await logIn(page, server, 'petr');
    await page.locator('.my-day h1', { hasText: 'Мой день' }).waitFor();
    assert.match(page.url(), /\/board\/my$/);
    const rows = page.locator('.day-row');
    assert.ok(await rows.count() >= 2);
    assert.match(await rows.first().getAttribute('class'), /overdue/, 'the overdue job comes first');
    const mine = await server.api('petr', 'GET', '/api/tasks?assigned_to=5');
    const open = mine.body.items.filter((task) => !['done', 'cancelled'].includes(task.status));
    assert.equal(await rows.count(), open.length, 'every open job of his, nothing else');
    assert.equal(await page.locator(`[data-call="${request.id}"]`).getAttribute('href'), 'tel:+79001112233');
    await page.selectOption(`[data-status-of="${request.id}"]`, 'in_progress');
    await stored(request.id, 'in_progress');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), '"My day" fits a phone');
    await page.screenshot({ path: join(SHOTS, 'my-day-ru.png') });
    // The board and a task's dialog fit the same screen.
    await page.click('.my-day a[href="/board/?mine=1"]');
    await page.locator('[data-status="in_progress"]').first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the board fits a phone');
    await page.goto(`${server.base}/board/tasks/${request.id}`);
    await page.locator('dialog[open]').waitFor();
    assert.ok(await page.evaluate(() => [...document.querySelectorAll('dialog[open] input, dialog[open] select, dialog[open] textarea')]
      .every((el) => el.getBoundingClientRect().right <= 390)), 'the dialog\'s fields stay on the screen');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('any filter as a list: one line per task, the status changed in place', async () => {
    const task = await newTask({ title: 'Listed critical job', priority: 'critical', assigned_to: 3 });
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 } });
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    await page.goto(`${server.base}/board/?view=list&priority=critical`);
    await page.locator(`.task-list tr[data-task-id="${task.id}"]`).waitFor();
    const listed = await page.locator('.task-list tbody tr').count();
    const critical = (await server.api('anna', 'GET', '/api/tasks?priority=critical&per_page=500')).body.items;
    assert.equal(listed, critical.length, 'every task of the filter, nothing else');
    await page.selectOption(`.task-list [data-status-of="${task.id}"]`, 'in_progress');
    await stored(task.id, 'in_progress');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the list fits a phone');
    await page.click('.view-switch button:has-text("Columns")');
    await page.locator(`[data-status="in_progress"] [data-task-id="${task.id}"]`).waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('admin pages fit a phone: their tables scroll in their own box', async () => {
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' });
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    for (const path of ['/board/admin/users', '/board/admin/scheduler', '/board/admin/backups', '/board/admin/health', '/board/stats']) {
      await page.goto(`${server.base}${path}`);
      await page.locator('main h1, main h2').first().waitFor();
      await page.waitForTimeout(200);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${path} is ${width} px wide`);
    }
    assert.deepEqual(errors, []);
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
    await drag(a.page, card(a.page, task.id), a.page.locator('[data-status="in_progress"] ul'));
    await waitInColumn(a.page, task.id, 'in_progress');
    const took = await waitInColumn(b.page, task.id, 'in_progress', 1000);
    assert.ok(took < 1000, `seen after ${took} ms`);
    await stored(task.id, 'in_progress');
    assert.deepEqual(errors.flat(), []);
    await a.context.close();
    await b.context.close();
  });

  test('a card moves by touch: press, hold, slide', async () => {
    const task = await newTask({ title: 'Touch me', priority: 'critical' });
    const { context, page } = await fresh({ hasTouch: true, isMobile: true, viewport: { width: 900, height: 800 } });
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await waitInColumn(page, task.id, 'new');
    const from = await card(page, task.id).boundingBox();
    const to = await page.locator('[data-status="in_progress"] ul').boundingBox();
    const cdp = await context.newCDPSession(page);
    const touch = (type, x, y) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
    const [x0, y0] = [from.x + from.width / 2, from.y + from.height / 2];
    const [x1, y1] = [to.x + to.width / 2, to.y + to.height - 40];
    await touch('touchStart', x0, y0);
    await page.waitForTimeout(300); // longer than the board's 150 ms touch delay
    for (let i = 1; i <= 15; i++) await touch('touchMove', x0 + ((x1 - x0) * i) / 15, y0 + ((y1 - y0) * i) / 15);
    await touch('touchEnd', x1, y1);
    await waitInColumn(page, task.id, 'in_progress', 2000);
    await stored(task.id, 'in_progress');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a change arriving mid-drag waits until the card is dropped', async () => {
    const dragged = await newTask({ title: 'Held in the hand', priority: 'critical' });
    const other = await newTask({ title: 'Changed meanwhile', priority: 'critical' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await waitInColumn(page, dragged.id, 'new');
    const from = await card(page, dragged.id).boundingBox();
    const to = await page.locator('[data-status="in_progress"] ul').boundingBox();
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 10 });
    // Meanwhile someone renames the card in hand and the one under it.
    const r1 = await server.api('anna', 'GET', `/api/tasks/${other.id}`);
    await server.api('anna', 'PATCH', `/api/tasks/${other.id}`, { title: 'Renamed meanwhile' }, { 'if-match': r1.etag });
    await page.waitForTimeout(300);
    assert.equal(await page.locator('text=Renamed meanwhile').count(), 0, 'held back during the drag');
    await page.mouse.move(to.x + to.width / 2, to.y + to.height - 30, { steps: 5 });
    await page.mouse.up();
    await waitInColumn(page, dragged.id, 'in_progress');
    await page.locator(`[data-task-id="${other.id}"] >> text=Renamed meanwhile`).waitFor({ timeout: 1000 });
    await stored(dragged.id, 'in_progress');
    assert.deepEqual(errors, []);
    await context.close();
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
    await stored(task.id, 'done');
    await card(page, task.id).hover();
    await card(page, task.id).locator('button.move').click();
    await page.click(`[data-task-id="${task.id}"] [data-move-to="cancelled"]`);
    await waitInColumn(page, task.id, 'cancelled');
    await stored(task.id, 'cancelled');
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
    await stored(task.id, 'done');
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

  test('closed tasks untouched for archive_after_days leave the columns; "Show archived" brings them back', async () => {
    const task = await newTask({ title: 'Old finished job' });
    await server.api('dispatcher', 'PATCH', `/api/tasks/${task.id}`, { status: 'done' }, { 'if-match': '*' });
    // Last changed long ago: a person's save of the file that sets updated_at.
    const file = join(server.data, 'tasks.csv');
    let text = '';
    for (let i = 0; i < 50 && !/Old finished job,[^\n]*,done,/.test(text); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      text = readFileSync(file, 'utf8');
    }
    const lines = text.split('\n');
    const column = lines[0].replace(/^\uFEFF/, '').split(',').indexOf('updated_at');
    const at = lines.findIndex((l) => l.startsWith(`${task.id},Old finished job,`));
    const cells = lines[at].split(',');
    cells[column] = '2020-01-01T00:00:00Z';
    lines[at] = cells.join(',');
    writeFileSync(file, lines.join('\n'));
    for (let i = 0; i < 50; i++) {
      if ((await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.updated_at === '2020-01-01T00:00:00Z') break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    await page.locator('input[name="archived"]').waitFor();
    assert.equal(await card(page, task.id).count(), 0, 'archived: off the columns');
    await page.check('input[name="archived"]');
    await waitInColumn(page, task.id, 'done');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('installable, and the page opens without a network once it has been seen', async () => {
    const manifest = await fetch(`${server.base}/board/manifest.webmanifest`);
    assert.equal(manifest.headers.get('content-type'), 'application/manifest+json');
    const app = await manifest.json();
    assert.equal(app.start_url, '/board/');
    assert.ok(app.icons.some((i) => i.sizes === '512x512'));
    for (const icon of app.icons) assert.equal((await fetch(`${server.base}${icon.src}`)).status, 200);
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 } });
    const errors = watchConsole(page, [/ERR_INTERNET_DISCONNECTED/, /Failed to fetch/, /WebSocket/]);
    await logIn(page, server, 'ivan');
    await page.evaluate(() => navigator.serviceWorker.ready);
    await context.setOffline(true);
    await page.reload();
    // The shell came from the service worker: the board's own page, not the browser's
    // error, saying there is no connection (with security on: the login form).
    await page.locator('input[name="username"]').waitFor({ timeout: 5000 });
    await context.setOffline(false);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('offline, a status change and a comment wait on the device and go when the network is back; a task changed meanwhile is not overwritten', async () => {
    const mine = await newTask({ title: 'Offline status job', assigned_to: 3 });
    const other = await newTask({ title: 'Offline conflict job', assigned_to: 3 });
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 } });
    // The refused change is a 412 in the console: expected here.
    const errors = watchConsole(page, [/ERR_INTERNET_DISCONNECTED/, /Failed to fetch/, /WebSocket/, /net::/, /412/]);
    await logIn(page, server, 'ivan');
    await page.locator(`[data-status-of="${mine.id}"]`).waitFor();
    await context.setOffline(true);
    await page.selectOption(`[data-status-of="${mine.id}"]`, 'in_progress');
    await page.locator(`[data-pending="${mine.id}"]`).waitFor();
    await page.selectOption(`[data-status-of="${other.id}"]`, 'in_progress');
    await page.locator(`[data-pending="${other.id}"]`).waitFor();
    // A comment on the first, from its dialog (opened from what the board holds).
    await page.click(`.day-row[data-task-id="${mine.id}"] a.title`);
    await page.fill('dialog .add-comment textarea', 'Written in the basement');
    await page.click('dialog .add-comment button');
    await page.locator('dialog [data-pending-comment]').waitFor();
    await page.locator('[data-pending-count="3"]').waitFor();
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${mine.id}`)).body.status, 'new', 'nothing went while offline');
    // Meanwhile the dispatcher changes the other task.
    await server.api('dispatcher', 'PATCH', `/api/tasks/${other.id}`, { priority: 'high' }, { 'if-match': '*' });
    await context.setOffline(false);
    await stored(mine.id, 'in_progress');
    for (let i = 0; i < 40; i++) {
      const comments = (await server.api('anna', 'GET', `/api/tasks/${mine.id}/comments`)).body.items;
      if (comments.some((c) => c.message === 'Written in the basement')) break;
      assert.ok(i < 39, 'the comment arrived');
      await new Promise((ok) => setTimeout(ok, 100));
    }
    await page.locator('[data-notice="error"]', { hasText: `#${other.id}` }).waitFor();
    const now = (await server.api('anna', 'GET', `/api/tasks/${other.id}`)).body;
    assert.equal(now.status, 'new', 'the change made against an old version was not applied');
    assert.equal(now.priority, 'high');
    await page.locator('[data-pending-count]').waitFor({ state: 'detached' });
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
    await stored(moved.id, 'done');
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

  test('a client rates finished work, and the rating shows on the card for everyone', async () => {
    const request = await newTask({ title: 'Rate me when done' }, 'client');
    const client = await fresh();
    const staff = await fresh();
    const errors = [watchConsole(client.page), watchConsole(staff.page)];
    await logIn(client.page, server, 'client');
    await logIn(staff.page, server, 'dispatcher');
    const r = await server.api('dispatcher', 'GET', `/api/tasks/${request.id}`);
    await server.api('dispatcher', 'PATCH', `/api/tasks/${request.id}`, { status: 'done' }, { 'if-match': r.etag });
    await waitInColumn(client.page, request.id, 'done');
    await client.page.goto(`${server.base}/board/tasks/${request.id}`);
    await client.page.locator('dialog form.rate').waitFor();
    assert.equal(await client.page.locator('dialog [data-feedback-form]').getAttribute('href'), 'https://forms.example/rate');
    await client.page.check('dialog input[name="rating"][value="5"]');
    await client.page.fill('dialog form.rate textarea[name="comment"]', 'Всё работает, спасибо');
    await client.page.click('dialog form.rate button[type="submit"]');
    await client.page.locator('dialog .feedback [data-rating="5"]').waitFor();
    assert.equal(await client.page.locator('dialog form.rate').count(), 0, 'rated once, no second form');
    await staff.page.locator(`[data-task-id="${request.id}"] [data-rating="5"]`).waitFor({ timeout: 1000 });
    const stored = await server.api('anna', 'GET', `/api/tasks/${request.id}/feedback`);
    assert.equal(stored.body.items[0].comment, 'Всё работает, спасибо');
    assert.deepEqual(errors.flat(), []);
    await client.context.close();
    await staff.context.close();
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

  test('a photo from the camera is made smaller in the browser before it goes up, and shows as a preview', async () => {
    const task = await newTask({ title: 'Photo of the type plate', assigned_to: 3 });
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 } });
    const errors = watchConsole(page);
    await logIn(page, server, 'ivan');
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    const original = photo(2400, 1800);
    await page.setInputFiles('dialog input[name="photo"]', { name: 'IMG_0042.png', mimeType: 'image/png', buffer: original });
    await page.locator('dialog .documents img.preview').waitFor({ timeout: 15000 });
    const docs = (await server.api('anna', 'GET', `/api/docs?task_id=${task.id}`)).body.items;
    assert.equal(docs.length, 1);
    assert.equal(docs[0].content_type, 'image/jpeg');
    assert.equal(docs[0].filename, 'IMG_0042.jpg');
    assert.ok(docs[0].size_bytes < original.length / 4, `${docs[0].size_bytes} bytes went up for a ${original.length}-byte photo`);
    const token = await server.token('anna');
    const bytes = Buffer.from(await (await fetch(`${server.base}/api/docs/${docs[0].id}/content`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    assert.deepEqual(jpegSize(bytes), { width: 1600, height: 1200 });
    // A PDF has no thumbnail: it opens in the browser's own viewer, from the stored bytes.
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
    await page.setInputFiles('dialog input[name="file"]', { name: 'invoice.pdf', mimeType: 'application/pdf', buffer: pdf });
    const opened = page.locator('dialog .documents li', { hasText: 'invoice.pdf' }).locator('[data-open]');
    await opened.waitFor();
    const [tab] = await Promise.all([context.waitForEvent('page'), opened.click()]);
    await tab.waitForURL(/^blob:/);
    await tab.close();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('custom columns are fields of the form; comments edit and delete; a document downloads', async () => {
    const task = await newTask({ title: 'Custom column' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    // A person adds a column in their spreadsheet: the board shows and edits it.
    const file = join(server.data, 'tasks.csv');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('Custom column'); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      text = readFileSync(file, 'utf8');
    }
    const lines = text.split('\n');
    writeFileSync(file, lines.map((l, i) => (l === '' ? l : `${l},${i === 0 ? 'project' : 'Flat 12'}`)).join('\n'));
    for (let i = 0; (await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.project !== 'Flat 12'; i++) {
      assert.ok(i < 100, 'the server read the edited tasks.csv');
      await new Promise((ok) => setTimeout(ok, 50));
    }
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    // An undeclared column is text; a declared enum is a list of its values.
    const project = page.locator('dialog input[name="project"]');
    await project.waitFor();
    assert.equal(await project.inputValue(), 'Flat 12');
    const techtype = page.locator('dialog select[name="techtype"]');
    assert.deepEqual(await techtype.locator('option').evaluateAll((os) => os.map((o) => o.value)), ['', 'washer', 'fridge', 'oven']);
    await project.fill('Flat 14');
    await techtype.selectOption('fridge');
    await page.click('dialog .task-form button[type="submit"]');
    await page.locator('[data-notice="info"]').waitFor();
    const saved = (await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body;
    assert.deepEqual([saved.project, saved.techtype], ['Flat 14', 'fridge']);
    // Comments: add, edit, delete.
    await page.fill('dialog .add-comment textarea', 'first words');
    await page.click('dialog .add-comment button');
    const comment = page.locator('dialog .comments li', { hasText: 'first words' });
    await comment.waitFor();
    await comment.locator('button:has-text("Edit")').click();
    const editing = page.locator('dialog .comments li form');
    await editing.locator('textarea').fill('better words');
    await editing.locator('button[type="submit"]').click();
    await page.locator('dialog .comments li', { hasText: 'better words' }).waitFor();
    // Deleting asks first: a dismissed question deletes nothing, an accepted one does.
    const asked = [];
    page.once('dialog', (d) => { asked.push(d.message()); d.dismiss(); });
    await page.locator('dialog .comments li', { hasText: 'better words' }).locator('button:has-text("Delete")').click();
    await page.waitForTimeout(200);
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}/comments`)).body.total, 1, 'kept when not confirmed');
    assert.match(asked[0], /better words/);
    page.once('dialog', (d) => d.accept());
    await page.locator('dialog .comments li', { hasText: 'better words' }).locator('button:has-text("Delete")').click();
    await page.locator('dialog .comments >> text=No comments yet.').waitFor();
    assert.equal((await server.api('anna', 'GET', `/api/tasks/${task.id}/comments`)).body.total, 0);
    // A document goes up and comes back down, byte for byte, through the token.
    const content = 'счёт №42\n';
    await page.setInputFiles('dialog input[type="file"]', { name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('dialog .documents button:has-text("invoice.txt")').click()]);
    assert.equal(download.suggestedFilename(), 'invoice.txt');
    assert.equal(readFileSync(await download.path(), 'utf8'), content);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a checklist: the technician adds, ticks and reorders steps on a phone; the card shows progress; the analysis\' steps are kept in one click', async () => {
    const petr = (await server.api('anna', 'GET', '/api/users?username=petr')).body.items[0];
    const task = await newTask({ title: 'Boiler check at the school', assigned_to: petr.id });
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const errors = watchConsole(page);
    await logIn(page, server, 'petr');
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    const checklist = page.locator(`dialog [data-checklist="${task.id}"]`);
    for (const text of ['Shut off the gas', 'Check the pressure', 'Clean the burner']) {
      await checklist.locator('input[name="text"]').fill(text);
      await checklist.locator('.add-item button[type="submit"]').click();
      await checklist.locator('li', { hasText: text }).waitFor();
    }
    await checklist.locator('li', { hasText: 'Shut off the gas' }).locator('input[type="checkbox"]').check();
    await checklist.locator('[data-progress]', { hasText: '1/3' }).waitFor();
    // From the keyboard: the last step up one place.
    await checklist.locator('li', { hasText: 'Clean the burner' }).locator('[data-move="up"]').focus();
    await page.keyboard.press('Enter');
    const order = async () => (await server.api('anna', 'GET', `/api/tasks/${task.id}/checklist`)).body.items.map((i) => i.text);
    for (let i = 0; i < 40 && (await order())[1] !== 'Clean the burner'; i++) await page.waitForTimeout(50);
    assert.deepEqual(await order(), ['Shut off the gas', 'Clean the burner', 'Check the pressure']);
    await checklist.locator('li').nth(1).filter({ hasText: 'Clean the burner' }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the checklist fits a phone');
    await page.keyboard.press('Escape');
    await page.goto(`${server.base}/board/?view=columns`);
    await card(page, task.id).locator('[data-steps="1/3"]').waitFor();
    assert.deepEqual(errors, []);
    await context.close();

    // The client who asked reads the checklist but is offered nothing to change.
    const request = await newTask({ title: 'Fridge is warm' }, 'client');
    await server.api('dispatcher', 'POST', `/api/tasks/${request.id}/checklist`, { text: 'Check the thermostat' });
    const other = await fresh();
    await logIn(other.page, server, 'client');
    await other.page.goto(`${server.base}/board/tasks/${request.id}`);
    const theirs = other.page.locator(`dialog [data-checklist="${request.id}"]`);
    await theirs.locator('li', { hasText: 'Check the thermostat' }).waitFor();
    assert.equal(await theirs.locator('.add-item').count(), 0);
    assert.ok(await theirs.locator('input[type="checkbox"]').isDisabled());
    await other.context.close();

    // The dispatcher keeps the model's suggested steps as the checklist.
    const analysed = await newTask({ title: 'Washer rumbles again', description: 'Loud noise when spinning' });
    const third = await fresh();
    await logIn(third.page, server, 'dispatcher');
    await third.page.goto(`${server.base}/board/tasks/${analysed.id}`);
    await third.page.click('[data-action="analyze"]');
    await third.page.click('[data-action="keep-checklist"]');
    await third.page.locator(`dialog [data-checklist="${analysed.id}"] li`, { hasText: 'Order the bearing kit' }).waitFor();
    const kept = (await server.api('anna', 'GET', `/api/tasks/${analysed.id}/checklist`)).body.items.map((i) => i.text);
    assert.deepEqual(kept, ['Order the bearing kit']);
    await third.context.close();
  });

  test('the dispatcher keeps recurring work on a phone and sees when it will next make a task; a technician is not offered the page', async () => {
    const { context, page } = await fresh({ viewport: { width: 390, height: 844 }, locale: 'ru-RU', isMobile: true, hasTouch: true });
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await page.goto(`${server.base}/board/recurring`);
    const form = page.locator('.recurring-form');
    await form.locator('input[name="title"]').fill('ТО котла в школе');
    await form.locator('input[name="schedule"]').fill('0 9 1 * *');
    await form.locator('input[name="due_in_days"]').fill('3');
    await form.locator('button[type="submit"]').click();
    const row = page.locator('[data-recurring]', { hasText: 'ТО котла в школе' });
    await row.waitFor();
    const next = row.locator('.next li');
    await next.nth(2).waitFor();
    assert.equal(await next.count(), 3, 'the next three occurrences');
    const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('nav')).map((e) => `${e.tagName}.${e.className}`).slice(0, 8));
    assert.deepEqual(wide, [], 'the page fits a phone');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scroll');
    const stored = (await server.api('dispatcher', 'GET', '/api/recurring')).body.items.find((r) => r.title === 'ТО котла в школе');
    assert.equal(stored.schedule, '0 9 1 * *');
    assert.equal(stored.due_in_days, 3);
    // Paused: no next occurrences; a bad schedule is refused in Russian.
    await row.locator('button', { hasText: 'Приостановить' }).click();
    await row.locator('.next').waitFor({ state: 'detached' });
    assert.deepEqual(errors, []);
    await context.close();

    const tech = await fresh();
    await logIn(tech.page, server, 'petr');
    await tech.page.locator('nav').first().waitFor();
    assert.equal(await tech.page.locator('nav a[href$="/recurring"]').count(), 0);
    await tech.context.close();
  });

  test('the calendar shows open tasks by due date; dragging one to another day re-dates it; a week fits a phone; a subscription link', async () => {
    const d = new Date();
    const iso = (x) => `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, '0')}-${String(x.getDate()).padStart(2, '0')}`;
    const first = new Date(d.getFullYear(), d.getMonth(), 10);
    const task = await newTask({ title: 'Calendar visit', due_date: iso(first) });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await page.goto(`${server.base}/board/calendar?date=${iso(first)}`);
    const entry = page.locator(`[data-day="${iso(first)}"] [data-task-id="${task.id}"]`);
    await entry.waitFor();
    const target = new Date(d.getFullYear(), d.getMonth(), 12);
    await drag(page, entry, page.locator(`ul[data-day="${iso(target)}"]`));
    let due;
    for (let i = 0; i < 40 && due !== iso(target); i++) {
      await page.waitForTimeout(50);
      due = (await server.api('anna', 'GET', `/api/tasks/${task.id}`)).body.due_date;
    }
    assert.equal(due, iso(target), 're-dated by the drop');
    await page.locator(`[data-day="${iso(target)}"] [data-task-id="${task.id}"]`).waitFor();
    await page.click('[data-action="calendar-link"]');
    const link = await page.locator('[data-calendar-link]').inputValue();
    const ics = await fetch(link).then((r) => r.text());
    assert.match(ics, new RegExp(`UID:task-${task.id}@taskboard`));
    assert.deepEqual(errors, []);
    await context.close();

    // A technician's week on a phone: a list of days, no horizontal scroll; his
    // entries cannot be dragged to another day (he does not set due dates).
    const phone = await fresh({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'ru-RU' });
    await logIn(phone.page, server, 'petr');
    await phone.page.goto(`${server.base}/board/calendar?view=week&date=${iso(target)}`);
    await phone.page.locator(`[data-task-id="${task.id}"].locked`).waitFor();
    assert.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth <= 390), 'the week fits a phone');
    await phone.context.close();
  });

  test('the analysis button asks the model and shows its answer as text', async () => {
    const task = await newTask({ title: 'Washer rumbles', description: 'Loud noise when spinning, 7 years old' });
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'dispatcher');
    await page.goto(`${server.base}/board/tasks/${task.id}`);
    await page.click('[data-action="analyze"]');
    const result = page.locator('.analysis-result[data-source="llm"]');
    await result.waitFor();
    assert.match(await result.textContent(), /Drum bearing worn <img src=x/);
    assert.equal(await page.evaluate(() => window.hacked), undefined, 'the model\'s markup stayed text');
    assert.match(await result.textContent(), /Order the bearing kit/);
    assert.ok(model.requests.some((r) => JSON.stringify(r).includes('Washer rumbles')), 'the model was asked about the task');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('"Link Telegram" gives a code that the bot takes, and the account is linked', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'petr');
    await page.click('[data-action="link-telegram"]');
    const code = await page.locator('[data-code]').getAttribute('data-code');
    assert.match(code, /^[0-9a-f]{32}$/);
    const deep = await page.locator('[data-deep-link]').getAttribute('href');
    assert.equal(deep, `https://t.me/board_test_bot?start=${code}`);
    await page.screenshot({ path: join(SHOTS, 'link-telegram.png') });
    // The person opens the bot with the code: the bot binds their account.
    telegram.message(777001, `/start ${code}`);
    for (let i = 0; i < 100 && !telegram.sent.some((m) => m.chat_id === 777001); i++) await page.waitForTimeout(100);
    const answer = telegram.sent.find((m) => m.chat_id === 777001);
    assert.match(answer?.text || '', /Linked: you are <b>petr<\/b>/);
    const users = await server.api('anna', 'GET', '/api/users?username=petr');
    assert.equal(users.body.items[0].telegram_id, '777001');
    await page.click('[data-dialog="telegram-link"] button');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('logs in with Telegram: the bound account presses the number the board shows', async () => {
    // A server whose method lets Telegram log people in (the shipped config's).
    const bot = await fakeTelegram(BOT_TOKEN);
    const tg = await startServer({
      method: 'telegram_username',
      extraConfig: ['telegram:', `  bot_token: ${BOT_TOKEN}`, `  api_url: ${bot.url}`].join('\n'),
    });
    try {
      // ivan's Telegram account is bound: an admin typed it into users.csv while the
      // server runs (nobody can log in by password under this method).
      writeFileSync(join(tg.data, 'users.csv'), readFileSync(join(tg.data, 'users.csv'), 'utf8')
        .replace(/^(\d+,ivan,)(,)/m, '$1555003$2'));
      for (let i = 0; i < 50; i++) {
        const text = readFileSync(join(tg.data, 'users.csv'), 'utf8');
        if (text.includes('ivan,555003')) break;
        await new Promise((ok) => setTimeout(ok, 100));
      }
      await new Promise((ok) => setTimeout(ok, 500)); // the watcher picks the save up
      const { context, page } = await fresh({ locale: 'ru-RU' });
      const errors = watchConsole(page);
      await page.goto(`${tg.base}/board/`);
      assert.equal(await page.locator('input[name="password"]').count(), 0, 'no password form under telegram_username');
      await page.click('[data-action="telegram-login"]');
      const match = await page.locator('[data-match]').getAttribute('data-match');
      const code = await page.locator('[data-code]').getAttribute('data-code');
      assert.equal(await page.locator('a[href^="https://t.me/board_test_bot?start=login-"]').count(), 1);
      await page.screenshot({ path: join(SHOTS, 'login-telegram.png') });
      bot.message(555003, `/start login-${code}`, 'ru');
      let ask;
      for (let i = 0; i < 100 && !ask; i++) {
        ask = bot.sent.find((m) => m.chat_id === 555003 && m.reply_markup);
        if (!ask) await page.waitForTimeout(100);
      }
      const buttons = ask.reply_markup.inline_keyboard[0];
      assert.equal(buttons.length, 4);
      const right = buttons.find((b) => b.text === match);
      assert.ok(right, `the board's number ${match} is among ${buttons.map((b) => b.text)}`);
      bot.press(555003, right.callback_data);
      await page.locator('[data-status]').first().waitFor({ timeout: 10000 });
      assert.deepEqual(errors, []);
      await context.close();

      // The same technician's chat in Russian, drawn as a chat for the README.
      for (const command of ['/start', '/tasks', '/help']) {
        const before = bot.sent.filter((m) => m.chat_id === 555003).length;
        bot.message(555003, command, 'ru');
        for (let i = 0; i < 100 && bot.sent.filter((m) => m.chat_id === 555003).length <= before; i++) {
          await new Promise((ok) => setTimeout(ok, 50));
        }
      }
      const chat = bot.sent.filter((m) => m.chat_id === 555003);
      const start = chat.find((m) => /Здравствуйте/.test(m.text));
      assert.ok(start, chat.map((m) => m.text).join('\n---\n'));
      assert.match(chat.map((m) => m.text).join('\n'), /Войти в taskboard\?/);
      const shot = await browser.newPage({ viewport: { width: 420, height: 900 } });
      const bubbles = chat.map((m) => `<div class="bubble">${m.text.replace(/\n/g, '<br>')}${
        (m.reply_markup?.inline_keyboard || []).map((row) => `<div class="row">${row.map((b) => `<span>${b.text}</span>`).join('')}</div>`).join('')
      }</div>`).join('');
      await shot.setContent(`<style>body{font:15px sans-serif;background:#dfe7ee;margin:0;padding:12px}
        .bubble{background:#fff;border-radius:12px;padding:10px 12px;margin:8px 0;max-width:360px;box-shadow:0 1px 2px #0002}
        .row{display:flex;gap:6px;margin-top:8px}.row span{flex:1;text-align:center;background:#eef3f8;border-radius:8px;padding:6px;color:#2a6bb0}
        </style>${bubbles}`);
      await shot.screenshot({ path: join(SHOTS, 'bot-ru.png'), fullPage: true });
      await shot.close();
    } finally {
      await tg.stop();
      bot.close();
    }
  });

  test('the statistics page draws its charts, and the admin pages show the files', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    await page.click('a:has-text("Statistics")');
    for (const chart of ['by-status', 'by-assignee', 'per-day', 'overdue']) {
      await page.locator(`[data-chart="${chart}"] canvas`).waitFor();
    }
    // Each technician's work, counts by a team's own field, and a date range.
    await page.locator('section', { hasText: 'By technician' }).locator('td', { hasText: 'petr' }).first().waitFor();
    await page.selectOption('select[name="group_by"]', 'techtype');
    await page.locator('[data-by-field="techtype"] [data-chart="by-techtype"] canvas').waitFor();
    await page.screenshot({ path: join(SHOTS, 'stats.png'), fullPage: true });
    const tomorrow = new Date(Date.now() + 86400e3).toISOString().slice(0, 10);
    await page.fill('input[name="since"]', tomorrow);
    await page.locator('[data-figure="total"]', { hasText: /^0$/ }).waitFor();
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

  test('a broken table file shows its file:line:column to the admin, and a banner says work goes on', async () => {
    const { context, page } = await fresh();
    const errors = watchConsole(page);
    await logIn(page, server, 'anna');
    writeFileSync(join(server.data, 'docs.csv'), 'id,title\n1,"unclosed\n');
    await page.click('nav a:has-text("Health")');
    await page.locator('[data-table="docs"].broken >> text=docs.csv:2:').waitFor({ timeout: 5000 });
    // A banner over every page says which file, where, and that work goes on.
    await page.click('nav a:has-text("Board")');
    const banner = page.locator('[data-broken-file="docs.csv"]');
    await banner.waitFor({ timeout: 5000 });
    assert.match(await banner.textContent(), /docs\.csv:2:.*Work goes on/);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('no serious or critical accessibility problem on any screen (axe-core)', async () => {
    const problems = [];
    const look = async (page, name) => {
      await page.waitForTimeout(150);
      for (const p of await accessibilityProblems(page)) problems.push(`${name}: ${p}`);
    };
    // The scripts axe needs are injected, which the board's own policy forbids.
    const { context, page } = await fresh({ bypassCSP: true });
    await page.goto(`${server.base}/board/`);
    await page.locator('input[name="username"]').waitFor();
    await look(page, 'login');
    await logIn(page, server, 'anna');
    await look(page, 'board');
    const some = await page.locator('[data-task-id]').first().getAttribute('data-task-id');
    await page.goto(`${server.base}/board/tasks/${some}`);
    await page.locator('dialog[open] form').first().waitFor();
    await look(page, 'task dialog');
    for (const path of ['/board/stats', '/board/admin/users', '/board/admin/scheduler', '/board/admin/backups', '/board/admin/health', '/board/profile', '/board/my', '/board/recurring', '/board/calendar']) {
      await page.goto(`${server.base}${path}`);
      await page.locator('main').first().waitFor();
      await page.waitForTimeout(300);
      await look(page, path);
    }
    await context.close();
    const phone = await fresh({ bypassCSP: true, viewport: { width: 390, height: 844 }, locale: 'ru-RU' });
    await logIn(phone.page, server, 'petr');
    await phone.page.locator('.my-day').waitFor();
    await look(phone.page, 'my day (ru, phone)');
    await phone.context.close();
    assert.deepEqual(problems, []);
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
