// Every string the board shows, in English and Russian, and the locale's dates and
// numbers. The language comes from a saved choice, else the browser's.
import { signal } from '@preact/signals';
import { setRequestLanguage, settings } from './api.js';

const en = {
  'app.board': 'Board', 'app.stats': 'Statistics', 'app.users': 'Users', 'app.scheduler': 'Scheduler',
  'app.recurring': 'Recurring work', 'app.calendar': 'Calendar',
  'calendar.previous': 'Earlier', 'calendar.next': 'Later', 'calendar.today': 'Today', 'calendar.month': 'Month', 'calendar.week': 'Week',
  'calendar.hint': 'Open tasks by due date. Drag a task to another day to move its due date.', 'calendar.moved': '#{id} is now due {date}.',
  'calendar.subscribe': 'Subscribe in my phone\'s calendar', 'calendar.newLink': 'Make a new link (the old one stops working)',
  'calendar.linkHint': 'Add this address as a calendar subscription; keep it to yourself:',
  'recurring.title': 'Recurring work', 'recurring.hint': 'Each row makes a task at every time its schedule names (minute hour day-of-month month day-of-week, in the team\'s time zone): "0 9 1 * *" is 09:00 on the 1st of every month.',
  'recurring.schedule': 'Schedule (crontab)', 'recurring.dueInDays': 'Due after (days)', 'recurring.add': 'Add', 'recurring.saved': 'Saved.', 'recurring.deleted': 'Deleted.',
  'recurring.none': 'No recurring work yet.', 'recurring.confirmDelete': 'Delete the recurring “{title}”? Tasks it made stay.', 'recurring.due': 'due {date}',
  'recurring.dueIn': { one: 'due in {n} day', other: 'due in {n} days' }, 'recurring.last': 'last made {at}', 'recurring.nobody': 'Nobody',
  'app.backups': 'Backups', 'app.health': 'Health', 'app.logout': 'Log out', 'app.language': 'Language',
  'app.anonymous': 'Security is off: everyone acts as the built-in admin “anonymous”.',
  'offline.kept': 'No connection: kept on this device, sent when the network is back.', 'offline.pending': 'not sent yet', 'offline.count': '{n} not sent', 'offline.conflict': 'Task #{id} was changed by someone else while you were offline: your change ({status}) was not applied. The board shows it as it is now.', 'app.live': 'live', 'app.offline': 'reconnecting…', 'app.loading': 'Loading…',
  'telegram.link': 'Link Telegram', 'telegram.open': 'Open the bot in Telegram', 'telegram.close': 'Close',
  'telegram.send': 'Or send this to the bot:', 'telegram.expires': 'The code works once, until {at}.',
  'login.title': 'Log in to taskboard', 'login.username': 'Username', 'login.password': 'Password',
  'login.submit': 'Log in', 'login.telegram': 'or with Telegram',
  'login.tg.start': 'Log in with Telegram', 'login.tg.match': 'Press this number in Telegram',
  'login.tg.open': 'Open the bot', 'login.tg.or': 'or send it:',
  'login.tg.refused': 'The login was cancelled in Telegram.', 'login.tg.expired': 'The login request expired. Start again.',
  'login.change': 'Your password must be changed before you go on.', 'login.current': 'Current password',
  'login.new': 'New password', 'login.save': 'Change password',
  'status.new': 'New', 'status.in_progress': 'In progress', 'status.done': 'Done', 'status.cancelled': 'Cancelled',
  'priority.low': 'low', 'priority.medium': 'medium', 'priority.high': 'high', 'priority.critical': 'critical',
  'filter.assignee': 'Assignee', 'filter.anyone': 'anyone', 'filter.unassigned': 'unassigned',
  'filter.priority': 'Priority', 'filter.any': 'any', 'filter.text': 'Search', 'filter.mine': 'Mine',
  'filter.archived': 'Show archived ({n})', 'filter.overdue': 'Overdue', 'filter.clear': 'Clear filters', 'filter.shown': '{shown} of {total} tasks',
  'board.new': 'New task', 'board.move': 'Move to…', 'board.moveTo': 'Move “{title}” to', 'board.empty': 'No tasks',
  'board.overdue': 'overdue', 'board.comments': { one: '{n} comment', other: '{n} comments' }, 'board.stale': 'Task #{id} was changed by {who} meanwhile ({source}); it is shown as the server has it now.',
  'board.moved': 'Task #{id} moved to {status}.', 'board.columnsView': 'Columns', 'board.listView': 'List', 'board.listMore': '{n} more: narrow the filter to see them', 'board.keys': 'Shift+← / Shift+→ moves a card, M opens “Move to…”, Enter opens it.',
  'board.myRequests': 'My requests', 'board.more': '{n} more below',
  'app.my': 'My day', 'my.title': 'My day', 'my.summary': { one: '{n} open task', other: '{n} open tasks' },
  'my.late': { one: '{n} overdue', other: '{n} overdue' }, 'my.none': 'Nothing assigned to you is open. 🎉',
  'my.status': 'Status of “{title}”', 'my.call': 'Call {name}', 'my.callShort': 'Call', 'my.board': 'My tasks on the board',
  'task.title': 'Title', 'task.description': 'Description', 'task.status': 'Status', 'task.priority': 'Priority',
  'task.assigned_to': 'Assignee', 'task.due_date': 'Due date', 'task.created_by': 'Created by',
  'task.created_at': 'Created', 'task.updated_at': 'Updated', 'task.save': 'Save', 'task.saved': 'Saved.',
  'task.create': 'Create', 'task.take': 'Take it', 'task.taken': 'The task is yours now.', 'task.delete': 'Delete task', 'task.confirmDelete': 'Delete task #{id}?', 'comments.confirmDelete': 'Delete the comment “{text}”?', 'docs.confirmDelete': 'Delete the document “{name}”?', 'docs.open': 'Open',
  'task.close': 'Close', 'task.readonly': 'You may read this task but not change it.',
  'checklist.title': 'Checklist', 'checklist.none': 'No steps yet.', 'checklist.add': 'Add a step', 'checklist.addButton': 'Add',
  'checklist.up': 'Move “{text}” up', 'checklist.down': 'Move “{text}” down', 'checklist.remove': 'Delete “{text}”',
  'checklist.confirmDelete': 'Delete the step “{text}”?', 'checklist.keep': 'Keep as checklist', 'checklist.kept': '{n} steps added to the checklist.',
  'task.comments': 'Comments', 'task.comment': 'Add a comment', 'task.send': 'Send', 'task.edit': 'Edit',
  'task.remove': 'Delete', 'task.docs': 'Documents', 'task.photo': 'Take a photo', 'task.upload': 'Upload a file', 'task.uploading': 'Uploading {pct}%',
  'task.history': 'History', 'task.analyse': 'Analyse with AI', 'task.analysing': 'Analysing…',
  'task.analysis': 'Analysis', 'task.fallback': 'The model was not reachable; this is the built-in estimate.',
  'task.noComments': 'No comments yet.', 'task.noDocs': 'No documents.', 'task.notFound': 'Task #{id} does not exist or is not yours to see.',
  'task.rating': 'Rating', 'task.new': 'New task', 'task.rate': 'Rate', 'task.thanks': 'Thank you for your rating.',
  'task.rateAsk': 'The work is done: how was it?', 'task.rateForm': 'Or tell us more in our feedback form', 'task.rateComment': 'A few words (optional)',
  'history.created': '{who} created it', 'history.deleted': '{who} deleted it',
  'history.moved': '{who} moved it to {status}', 'history.changed': '{who} changed {fields}',
  'history.from': 'from {source}', 'history.someone': 'someone',
  'source.api': 'the API', 'source.ws': 'the WebSocket', 'source.telegram': 'Telegram', 'source.scheduler': 'the scheduler',
  'source.cli': 'the command line', 'source.file': 'a file edit', 'source.board': 'the board',
  'stats.title': 'Statistics', 'stats.byStatus': 'Tasks by status', 'stats.byAssignee': 'Tasks by assignee',
  'stats.perDay': 'Created and completed per day', 'stats.created': 'created', 'stats.completed': 'completed',
  'stats.overdue': 'Overdue over time', 'stats.overdueNow': 'Overdue now', 'stats.mean': 'Mean time to done',
  'stats.hours': '{n} h', 'stats.total': 'Tasks in all', 'stats.day': 'Day', 'stats.since': 'Created from', 'stats.until': 'to', 'stats.groupBy': 'Count by', 'stats.people': 'By technician', 'stats.done': 'Done', 'stats.rating': 'Rating', 'stats.byField': 'By {field}', 'stats.others': 'Everyone else', 'stats.count': 'Count',
  'users.title': 'Users', 'users.username': 'Username', 'users.role': 'Role', 'users.active': 'Active',
  'users.telegram': 'Telegram', 'users.linked': 'linked', 'users.notLinked': 'not linked', 'users.create': 'Add user',
  'users.password': 'Initial password (optional)', 'users.deactivate': 'Deactivate', 'users.activate': 'Activate',
  'users.reset': 'Reset password', 'users.newPassword': 'New password for {name}:', 'users.done': 'Done.',
  'profile.title': 'Your profile', 'profile.email': 'Email', 'profile.browser': 'As the browser says',
  'profile.save': 'Save', 'profile.saved': 'Saved.',
  'users.fullName': 'Full name', 'users.phone': 'Phone', 'users.waiting': 'Telegram accounts waiting for your confirmation',
  'users.asks': '@{telegram} (id {id}) asks to be {name}', 'users.confirm': 'Confirm', 'users.reject': 'Reject',
  'role.admin': 'administrator', 'role.manager': 'manager', 'role.supervisor': 'supervisor', 'role.member': 'member', 'role.client': 'client',
  'jobs.title': 'Scheduled jobs', 'jobs.id': 'Job', 'jobs.trigger': 'Trigger', 'jobs.schedule': 'Schedule',
  'jobs.last': 'Last run', 'jobs.result': 'Result', 'jobs.next': 'Next run', 'jobs.run': 'Run now',
  'jobs.pause': 'Pause', 'jobs.resume': 'Resume', 'jobs.enabled': 'Enabled', 'jobs.change': 'Change schedule',
  'jobs.newSchedule': 'New schedule for {id} (crontab, or an interval such as 15m):', 'jobs.state': 'The scheduler is {state}.',
  'jobs.pauseAll': 'Pause all', 'jobs.resumeAll': 'Resume all', 'jobs.started': 'Started {id}.',
  'backups.title': 'Backups', 'backups.name': 'Name', 'backups.size': 'Size', 'backups.created': 'Taken',
  'backups.create': 'Back up now', 'backups.verify': 'Verify', 'backups.download': 'Download',
  'backups.ok': '{name}: {files} files match the manifest.', 'backups.none': 'No backups yet.',
  'health.title': 'Health', 'health.status': 'Status', 'health.version': 'Version', 'health.uptime': 'Up for {n} s',
  'health.tables': 'Table files', 'health.file': 'File', 'health.rows': 'Rows', 'health.state': 'State',
  'health.readable': 'readable', 'health.components': 'Components',
  'broken.title': '{file} does not load:',
  'broken.goesOn': 'Work goes on: changes are kept and will be merged into the file once this line is fixed.',
  'broken.stopped': 'Changes to it are refused until the file is fixed.',
  'common.yes': 'yes', 'common.no': 'no', 'common.cancel': 'Cancel', 'common.error': 'Error',
  'common.forbidden': 'Your role may not see this page.',
};

const ru = {
  'app.board': 'Доска', 'app.stats': 'Статистика', 'app.users': 'Пользователи', 'app.scheduler': 'Планировщик',
  'app.recurring': 'Регулярные работы', 'app.calendar': 'Календарь',
  'calendar.previous': 'Раньше', 'calendar.next': 'Позже', 'calendar.today': 'Сегодня', 'calendar.month': 'Месяц', 'calendar.week': 'Неделя',
  'calendar.hint': 'Открытые задачи по сроку. Перетащите задачу на другой день, чтобы перенести срок.', 'calendar.moved': 'Срок №{id} теперь {date}.',
  'calendar.subscribe': 'Подписаться в календаре телефона', 'calendar.newLink': 'Новая ссылка (старая перестанет работать)',
  'calendar.linkHint': 'Добавьте этот адрес как подписку в календаре; никому его не показывайте:',
  'recurring.title': 'Регулярные работы', 'recurring.hint': 'Каждая строка создаёт задачу в каждый момент своего расписания (минута час день-месяца месяц день-недели, в часовом поясе команды): «0 9 1 * *» — 09:00 первого числа каждого месяца.',
  'recurring.schedule': 'Расписание (crontab)', 'recurring.dueInDays': 'Срок через (дней)', 'recurring.add': 'Добавить', 'recurring.saved': 'Сохранено.', 'recurring.deleted': 'Удалено.',
  'recurring.none': 'Регулярных работ пока нет.', 'recurring.confirmDelete': 'Удалить регулярную работу «{title}»? Созданные ею задачи останутся.', 'recurring.due': 'срок {date}',
  'recurring.dueIn': { one: 'срок через {n} день', few: 'срок через {n} дня', many: 'срок через {n} дней', other: 'срок через {n} дня' }, 'recurring.last': 'последняя {at}', 'recurring.nobody': 'Никому',
  'app.backups': 'Резервные копии', 'app.health': 'Состояние', 'app.logout': 'Выйти', 'app.language': 'Язык',
  'app.anonymous': 'Защита выключена: все действуют как встроенный администратор «anonymous».',
  'offline.kept': 'Нет связи: сохранено на устройстве, отправится, когда появится сеть.', 'offline.pending': 'ещё не отправлено', 'offline.count': 'не отправлено: {n}', 'offline.conflict': 'Задачу №{id} изменил кто-то другой, пока вы были без связи: ваше изменение ({status}) не применено. На доске — её текущее состояние.', 'app.live': 'на связи', 'app.offline': 'переподключение…', 'app.loading': 'Загрузка…',
  'telegram.link': 'Привязать Telegram', 'telegram.open': 'Открыть бота в Telegram', 'telegram.close': 'Закрыть',
  'telegram.send': 'Или отправьте боту:', 'telegram.expires': 'Код действует один раз, до {at}.',
  'login.title': 'Вход в taskboard', 'login.username': 'Имя пользователя', 'login.password': 'Пароль',
  'login.submit': 'Войти', 'login.telegram': 'или через Telegram',
  'login.tg.start': 'Войти через Telegram', 'login.tg.match': 'Нажмите это число в Telegram',
  'login.tg.open': 'Открыть бота', 'login.tg.or': 'или отправьте ему:',
  'login.tg.refused': 'Вход отменён в Telegram.', 'login.tg.expired': 'Запрос на вход истёк. Начните заново.',
  'login.change': 'Прежде чем продолжить, смените пароль.', 'login.current': 'Текущий пароль',
  'login.new': 'Новый пароль', 'login.save': 'Сменить пароль',
  'status.new': 'Новые', 'status.in_progress': 'В работе', 'status.done': 'Готово', 'status.cancelled': 'Отменены',
  'priority.low': 'низкий', 'priority.medium': 'средний', 'priority.high': 'высокий', 'priority.critical': 'критический',
  'filter.assignee': 'Исполнитель', 'filter.anyone': 'любой', 'filter.unassigned': 'не назначен',
  'filter.priority': 'Приоритет', 'filter.any': 'любой', 'filter.text': 'Поиск', 'filter.mine': 'Мои',
  'filter.archived': 'Показать архив ({n})', 'filter.overdue': 'Просроченные', 'filter.clear': 'Сбросить фильтры', 'filter.shown': 'Показано {shown} из {total}',
  'board.new': 'Новая задача', 'board.move': 'Переместить…', 'board.moveTo': 'Переместить «{title}» в', 'board.empty': 'Нет задач',
  'board.overdue': 'просрочена', 'board.comments': { one: '{n} комментарий', few: '{n} комментария', many: '{n} комментариев', other: '{n} комментария' }, 'board.stale': 'Задачу #{id} тем временем изменил(а) {who} ({source}); показано то, что сейчас на сервере.',
  'board.moved': 'Задача #{id} перемещена: {status}.', 'board.columnsView': 'Колонки', 'board.listView': 'Список', 'board.listMore': 'ещё {n}: уточните фильтр, чтобы их увидеть', 'board.keys': 'Shift+← / Shift+→ перемещает карточку, M открывает «Переместить…», Enter открывает её.',
  'board.myRequests': 'Мои заявки', 'board.more': 'ещё {n} ниже',
  'app.my': 'Мой день', 'my.title': 'Мой день',
  'my.summary': { one: '{n} открытая задача', few: '{n} открытые задачи', many: '{n} открытых задач', other: '{n} открытой задачи' },
  'my.late': { one: '{n} просрочена', few: '{n} просрочены', many: '{n} просрочено', other: '{n} просрочено' },
  'my.none': 'Открытых задач на вас нет. 🎉',
  'my.status': 'Статус «{title}»', 'my.call': 'Позвонить: {name}', 'my.callShort': 'Позвонить', 'my.board': 'Мои задачи на доске',
  'task.title': 'Название', 'task.description': 'Описание', 'task.status': 'Статус', 'task.priority': 'Приоритет',
  'task.assigned_to': 'Исполнитель', 'task.due_date': 'Срок', 'task.created_by': 'Автор',
  'task.created_at': 'Создана', 'task.updated_at': 'Изменена', 'task.save': 'Сохранить', 'task.saved': 'Сохранено.',
  'task.create': 'Создать', 'task.take': 'Взять себе', 'task.taken': 'Теперь задача ваша.', 'task.delete': 'Удалить задачу', 'task.confirmDelete': 'Удалить задачу #{id}?', 'comments.confirmDelete': 'Удалить комментарий «{text}»?', 'docs.confirmDelete': 'Удалить документ «{name}»?', 'docs.open': 'Открыть',
  'task.close': 'Закрыть', 'task.readonly': 'Эту задачу можно читать, но не менять.',
  'checklist.title': 'Чек-лист', 'checklist.none': 'Шагов пока нет.', 'checklist.add': 'Добавить шаг', 'checklist.addButton': 'Добавить',
  'checklist.up': 'Поднять «{text}»', 'checklist.down': 'Опустить «{text}»', 'checklist.remove': 'Удалить «{text}»',
  'checklist.confirmDelete': 'Удалить шаг «{text}»?', 'checklist.keep': 'Сохранить как чек-лист', 'checklist.kept': 'В чек-лист добавлено шагов: {n}.',
  'task.comments': 'Комментарии', 'task.comment': 'Добавить комментарий', 'task.send': 'Отправить', 'task.edit': 'Изменить',
  'task.remove': 'Удалить', 'task.docs': 'Документы', 'task.photo': 'Сфотографировать', 'task.upload': 'Загрузить файл', 'task.uploading': 'Загрузка {pct}%',
  'task.history': 'История', 'task.analyse': 'Анализ ИИ', 'task.analysing': 'Анализ…',
  'task.analysis': 'Анализ', 'task.fallback': 'Модель недоступна; это встроенная оценка.',
  'task.noComments': 'Комментариев пока нет.', 'task.noDocs': 'Документов нет.', 'task.notFound': 'Задачи #{id} нет или она вам не видна.',
  'task.rating': 'Оценка', 'task.new': 'Новая задача', 'task.rate': 'Оценить', 'task.thanks': 'Спасибо за оценку.',
  'task.rateAsk': 'Работа выполнена — как вам результат?', 'task.rateForm': 'Или расскажите подробнее в форме отзыва', 'task.rateComment': 'Пара слов (необязательно)',
  'history.created': '{who} создал(а) задачу', 'history.deleted': '{who} удалил(а) задачу',
  'history.moved': '{who} перевёл(а) в «{status}»', 'history.changed': '{who} изменил(а): {fields}',
  'history.from': 'через {source}', 'history.someone': 'кто-то',
  'source.api': 'API', 'source.ws': 'WebSocket', 'source.telegram': 'Telegram', 'source.scheduler': 'планировщик',
  'source.cli': 'командную строку', 'source.file': 'правку файла', 'source.board': 'доску',
  'stats.title': 'Статистика', 'stats.byStatus': 'Задачи по статусам', 'stats.byAssignee': 'Задачи по исполнителям',
  'stats.perDay': 'Создано и завершено по дням', 'stats.created': 'создано', 'stats.completed': 'завершено',
  'stats.overdue': 'Просроченные по дням', 'stats.overdueNow': 'Просрочено сейчас', 'stats.mean': 'Среднее время до готовности',
  'stats.hours': '{n} ч', 'stats.total': 'Всего задач', 'stats.day': 'День', 'stats.since': 'Созданы с', 'stats.until': 'по', 'stats.groupBy': 'Считать по', 'stats.people': 'По мастерам', 'stats.done': 'Выполнено', 'stats.rating': 'Оценка', 'stats.byField': 'По полю «{field}»', 'stats.others': 'Все остальные', 'stats.count': 'Количество',
  'users.title': 'Пользователи', 'users.username': 'Имя', 'users.role': 'Роль', 'users.active': 'Активен',
  'users.telegram': 'Telegram', 'users.linked': 'привязан', 'users.notLinked': 'не привязан', 'users.create': 'Добавить',
  'users.password': 'Начальный пароль (необязательно)', 'users.deactivate': 'Отключить', 'users.activate': 'Включить',
  'users.reset': 'Сбросить пароль', 'users.newPassword': 'Новый пароль для {name}:', 'users.done': 'Готово.',
  'profile.title': 'Ваш профиль', 'profile.email': 'Эл. почта', 'profile.browser': 'Как в браузере',
  'profile.save': 'Сохранить', 'profile.saved': 'Сохранено.',
  'users.fullName': 'Полное имя', 'users.phone': 'Телефон', 'users.waiting': 'Аккаунты Telegram ждут вашего подтверждения',
  'users.asks': '@{telegram} (id {id}) хочет стать {name}', 'users.confirm': 'Подтвердить', 'users.reject': 'Отклонить',
  'role.admin': 'администратор', 'role.manager': 'менеджер', 'role.supervisor': 'наблюдатель', 'role.member': 'исполнитель', 'role.client': 'клиент',
  'jobs.title': 'Задания по расписанию', 'jobs.id': 'Задание', 'jobs.trigger': 'Запуск', 'jobs.schedule': 'Расписание',
  'jobs.last': 'Последний запуск', 'jobs.result': 'Результат', 'jobs.next': 'Следующий запуск', 'jobs.run': 'Запустить',
  'jobs.pause': 'Приостановить', 'jobs.resume': 'Возобновить', 'jobs.enabled': 'Включено', 'jobs.change': 'Изменить расписание',
  'jobs.newSchedule': 'Новое расписание для {id} (crontab или интервал, например 15m):', 'jobs.state': 'Планировщик: {state}.',
  'jobs.pauseAll': 'Приостановить всё', 'jobs.resumeAll': 'Возобновить всё', 'jobs.started': 'Запущено: {id}.',
  'backups.title': 'Резервные копии', 'backups.name': 'Имя', 'backups.size': 'Размер', 'backups.created': 'Создана',
  'backups.create': 'Создать копию', 'backups.verify': 'Проверить', 'backups.download': 'Скачать',
  'backups.ok': '{name}: {files} файлов совпадают с описью.', 'backups.none': 'Копий пока нет.',
  'health.title': 'Состояние', 'health.status': 'Статус', 'health.version': 'Версия', 'health.uptime': 'Работает {n} с',
  'health.tables': 'Файлы таблиц', 'health.file': 'Файл', 'health.rows': 'Строк', 'health.state': 'Состояние',
  'health.readable': 'читается', 'health.components': 'Компоненты',
  'broken.title': '{file} не читается:',
  'broken.goesOn': 'Работа идёт: изменения сохраняются и попадут в файл, как только эту строку исправят.',
  'broken.stopped': 'Изменения в нём не принимаются, пока файл не исправят.',
  'common.yes': 'да', 'common.no': 'нет', 'common.cancel': 'Отмена', 'common.error': 'Ошибка',
  'common.forbidden': 'Вашей роли эта страница недоступна.',
};

export const dictionaries = { en, ru };
export const languages = ['en', 'ru'];

function initial() {
  const saved = localStorage.getItem('taskboard.lang');
  if (languages.includes(saved)) return saved;
  const wanted = (navigator.languages || [navigator.language || 'en']).map((l) => l.slice(0, 2).toLowerCase());
  return wanted.find((l) => languages.includes(l)) || 'en';
}

export const lang = signal(initial());
setRequestLanguage(lang.value);

export function setLang(l) {
  localStorage.setItem('taskboard.lang', l);
  lang.value = l;
  setRequestLanguage(l);
  document.documentElement.lang = l;
}

/** The string `key` in the current language with `{name}` replaced from `vars`; a
 * string with plural forms picks the one the language uses for `vars.n`. */
export function t(key, vars) {
  let text = dictionaries[lang.value][key] ?? en[key] ?? key;
  if (typeof text === 'object') {
    const form = new Intl.PluralRules(locale()).select(Number(vars?.n ?? 0));
    text = text[form] ?? text.other;
  }
  return vars ? text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? '')) : text;
}

/** A status's label: the configured one in this language, else a known one
 * translated, else a team's own id as written. */
export function statusLabel(s) {
  const label = settings.workflow?.find((w) => w.id === s)?.label || {};
  const configured = label[lang.value] || label.en || label.ru;
  if (configured) return configured;
  const key = `status.${s}`;
  return en[key] ? t(key) : s.replace(/_/g, ' ');
}

export function priorityLabel(p) {
  return en[`priority.${p}`] ? t(`priority.${p}`) : p;
}

const locale = () => (lang.value === 'ru' ? 'ru-RU' : 'en-GB');

export function formatDate(value) {
  if (!value) return '';
  const d = new Date(value.length === 10 ? `${value}T00:00:00` : value);
  if (Number.isNaN(d.getTime())) return value;
  return value.length === 10
    ? d.toLocaleDateString(locale(), { day: 'numeric', month: 'short', year: 'numeric' })
    : d.toLocaleString(locale(), { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

export function formatNumber(n, digits = 0) {
  return Number(n).toLocaleString(locale(), { maximumFractionDigits: digits });
}
