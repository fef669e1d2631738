//! Every message the server writes for a person, in English and Russian side by side.
//! A message is a variant of [`Msg`]; `{name}` marks a value filled in by the caller;
//! `a|b|c` are the plural forms (`one|few|many` in Russian, `one|other|other` in English)
//! chosen by `Lang::plural`. Bot texts are Telegram HTML: values are escaped by the
//! caller, the markup here is ours.

macro_rules! catalogue {
    ($($name:ident => $en:expr, $ru:expr;)*) => {
        /// A message of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Msg { $($name),* }

        impl Msg {
            /// Every message, for the test that both languages have each.
            pub const ALL: &'static [Msg] = &[$(Msg::$name),*];

            pub fn en(self) -> &'static str {
                match self { $(Msg::$name => $en),* }
            }

            pub fn ru(self) -> &'static str {
                match self { $(Msg::$name => $ru),* }
            }
        }
    };
}

catalogue! {
    // Nouns with their plural forms.
    NounTask => "task|tasks|tasks", "задача|задачи|задач";
    NounRequest => "request|requests|requests", "заявка|заявки|заявок";
    NounReminder => "reminder|reminders|reminders", "напоминание|напоминания|напоминаний";

    // Roles and priorities, as people read them.
    RoleAdmin => "administrator", "администратор";
    RoleManager => "manager", "менеджер";
    RoleSupervisor => "supervisor", "наблюдатель";
    RoleMember => "technician", "исполнитель";
    RoleClient => "client", "клиент";
    PriorityLow => "low", "низкий";
    PriorityMedium => "medium", "средний";
    PriorityHigh => "high", "высокий";
    PriorityCritical => "critical", "критический";
    StatusNew => "New", "Новая";
    StatusInProgress => "In progress", "В работе";
    StatusDone => "Done", "Выполнена";
    StatusCancelled => "Cancelled", "Отменена";

    // The bot's help, one line per command.
    HelpTitle => "<b>taskboard</b> — what you can do here:", "<b>taskboard</b> — что можно сделать здесь:";
    HelpTasks => "/tasks — your open tasks", "/tasks — ваши открытые задачи";
    HelpTask => "/task N — one task", "/task N — одна задача";
    HelpNew => "/new TITLE — a new task", "/new НАЗВАНИЕ — новая задача";
    HelpStatus => "/status N STATUS — change a task's status", "/status N СТАТУС — сменить статус задачи";
    HelpDone => "/done N — mark a task done", "/done N — отметить задачу выполненной";
    HelpTake => "/take N — take an unassigned task", "/take N — взять свободную задачу";
    HelpComment => "/comment N TEXT — comment on a task", "/comment N ТЕКСТ — комментарий к задаче";
    HelpReport => "/report — your day", "/report — ваш день";
    HelpAnalyze => "/analyze N — an AI analysis of a task", "/analyze N — ИИ-анализ задачи";
    HelpSettings => "/settings — which notifications you get", "/settings — какие уведомления получать";
    HelpHelp => "/help — this list", "/help — этот список";
    HelpUnassigned => "/unassigned — open tasks nobody has", "/unassigned — открытые задачи без исполнителя";
    HelpAssign => "/assign N WHO — give a task to someone (username or name)", "/assign N КТО — назначить задачу (логин или имя)";
    CmdUnassigned => "open tasks nobody has", "задачи без исполнителя";
    CmdAssign => "assign: /assign N WHO", "назначить: /assign N КТО";
    UsageAssign => "Usage: /assign N WHO (a username or a full name)", "Так: /assign N КТО (логин или полное имя)";
    NoSuchPerson => "Nobody active is called \"{who}\".", "Активного пользователя «{who}» нет.";
    TwoPeople => "\"{who}\" names more than one person; use the username.", "«{who}» подходит нескольким людям; укажите логин.";
    AssignedTo => "👤 Assigned to <b>{name}</b>.", "👤 Назначено: <b>{name}</b>.";
    NoUnassigned => "Every open task has someone.", "У всех открытых задач есть исполнитель.";
    Unassigned => "<b>Open tasks nobody has: {count}</b>", "<b>Без исполнителя: {count}</b>";
    ClientReport => "📋 <b>Your requests</b>: {open} open, {done} finished", "📋 <b>Ваши заявки</b>: открыто {open}, выполнено {done}";
    CmdTasks => "your open tasks", "ваши открытые задачи";
    CmdTask => "one task: /task N", "одна задача: /task N";
    CmdNew => "a new task: /new TITLE", "новая задача: /new НАЗВАНИЕ";
    CmdStatus => "change a status: /status N STATUS", "сменить статус: /status N СТАТУС";
    CmdDone => "mark done: /done N", "отметить выполненной: /done N";
    CmdTake => "take a task: /take N", "взять задачу: /take N";
    CmdComment => "comment: /comment N TEXT", "комментарий: /comment N ТЕКСТ";
    CmdReport => "your day", "ваш день";
    CmdAnalyze => "AI analysis: /analyze N", "ИИ-анализ: /analyze N";
    CmdSettings => "notification settings", "настройки уведомлений";
    CmdHelp => "what the bot can do", "что умеет бот";

    // Replies to commands.
    Hello => "Hello, <b>{name}</b>!", "Здравствуйте, <b>{name}</b>!";
    Linked => "Linked: you are <b>{name}</b> ({role}). You will be told about your tasks here.",
        "Готово: вы — <b>{name}</b> ({role}). Здесь будут уведомления о ваших задачах.";
    UsageLogin => "Usage: /login CODE (the code from the board's \"Link Telegram\")",
        "Так: /login КОД (код из «Привязать Telegram» на доске)";
    UsageTask => "Usage: /task N (N is the task's number)", "Так: /task N (N — номер задачи)";
    UsageStatus => "Usage: /status N STATUS, where STATUS is one of: {statuses}",
        "Так: /status N СТАТУС, где СТАТУС — один из: {statuses}";
    UsageDone => "Usage: /done N", "Так: /done N";
    UsageTake => "Usage: /take N", "Так: /take N";
    UsageComment => "Usage: /comment N TEXT", "Так: /comment N ТЕКСТ";
    UsageAnalyze => "Usage: /analyze N", "Так: /analyze N";
    UsageNew => "Usage: /new TITLE", "Так: /new НАЗВАНИЕ";
    UnknownCommand => "Unknown command {command}.", "Неизвестная команда {command}.";
    NotACommand => "Commands start with /.", "Команды начинаются с /.";
    UnknownStatus => "There is no status \"{status}\". Valid ones: {statuses}",
        "Статуса «{status}» нет. Допустимые: {statuses}";
    NoDoneStatus => "The workflow has no finishing status.", "В процессе нет завершающего статуса.";
    NoOpenTasks => "You have no open tasks.", "Открытых задач нет.";
    YourOpenTasks => "<b>Your open tasks: {count}</b>", "<b>Ваши открытые задачи: {count}</b>";
    MoreOnBoard => "… and {tasks} more on the board", "… и ещё {tasks} на доске";
    Created => "🆕 Created.", "🆕 Создана.";
    StatusSet => "✅ Status set to <b>{status}</b>.", "✅ Статус: <b>{status}</b>.";
    YoursNow => "🙋 It is yours now.", "🙋 Теперь задача ваша.";
    CommentAdded => "💬 Comment added to #{id}.", "💬 Комментарий к №{id} добавлен.";
    NotDone => "Not done: {why}", "Не выполнено: {why}";
    NotAllowed => "Not allowed: {why}", "Нельзя: {why}";
    SettingsNeedUser => "Settings belong to a user.", "Настройки есть только у пользователя.";
    SettingsTitle => "<b>Your notifications</b> (press to switch)", "<b>Ваши уведомления</b> (нажмите, чтобы переключить)";
    TurnOn => "Turn on: {what}", "Включить: {what}";
    TurnOff => "Turn off: {what}", "Выключить: {what}";
    SettingOn => "{what}: on", "{what}: включено";
    SettingOff => "{what}: off", "{what}: выключено";
    NoticeAssigned => "a task is assigned to you", "вам назначили задачу";
    NoticeStatus => "the status of your task changes", "сменился статус вашей задачи";
    NoticeComments => "a comment on your task", "комментарий к вашей задаче";
    NoticeDeadlines => "deadline reminders", "напоминания о сроках";
    NoticeReport => "your daily report", "ежедневный отчёт";
    NoticeKeys => "your API keys expiring", "истечение ваших API-ключей";
    NoticeNewTasks => "new tasks (managers)", "новые заявки (менеджерам)";
    LeadNewTask => "🆕 <b>New task</b>{by}", "🆕 <b>Новая заявка</b>{by}";
    LeadUnassigned => "↩️ <b>No longer yours</b>{by}", "↩️ <b>Задача больше не ваша</b>{by}";
    LeadDue => "📅 <b>Due date: {before} → {after}</b>{by}", "📅 <b>Срок: {before} → {after}</b>{by}";
    LeadPriority => "❗ <b>Priority: {before} → {after}</b>{by}", "❗ <b>Приоритет: {before} → {after}</b>{by}";
    LeadDeleted => "🗑 <b>Task deleted</b>{by}: #{id} {title}", "🗑 <b>Задача удалена</b>{by}: №{id} {title}";
    NoDate => "none", "нет";
    RateAsk => "How was the work done? Rate it:", "Как выполнена работа? Оцените:";
    RateForm => "Or tell us more: {url}", "Или расскажите подробнее: {url}";
    Rated => "Thank you! Your rating: {rating}.", "Спасибо! Ваша оценка: {rating}.";
    TakeIt => "Take it", "Взять себе";
    TeamNewTask => "🆕 <b>New task #{id}</b>: {title}", "🆕 <b>Новая заявка №{id}</b>: {title}";
    UnknownSetting => "Unknown setting", "Неизвестная настройка";
    BrokenButton => "This button is broken; send /task N", "Кнопка неисправна; отправьте /task N";
    OldButton => "This button is from an older version; send /help", "Кнопка от старой версии; отправьте /help";
    EmptyButton => "This button carries nothing", "Эта кнопка пуста";
    ToastStatus => "#{id} is now {status}", "№{id}: теперь «{status}»";
    ChecklistTitle => "Checklist {done}/{total}", "Чек-лист {done}/{total}";
    ToastTicked => "Done: {text}", "Сделано: {text}";
    ToastUnticked => "Not done: {text}", "Не сделано: {text}";
    ToastChanged => "#{id} changed meanwhile; here it is as it stands", "№{id} уже изменили; вот как она выглядит сейчас";
    YouSetStatus => "✅ You set the status to <b>{status}</b>.", "✅ Вы установили статус <b>{status}</b>.";
    ChangedMeanwhile => "⚠️ Changed meanwhile: nothing was changed by you.", "⚠️ Задачу уже изменили: ваше нажатие ничего не поменяло.";

    // Linking and who is who.
    NotLinked => "This Telegram account is not linked to a taskboard user. On the board choose \"Link Telegram\" and send the code here as /start CODE.",
        "Этот аккаунт Telegram не привязан к пользователю taskboard. На доске выберите «Привязать Telegram» и отправьте сюда код: /start КОД.";
    NotLinkedUsername => "If your Telegram username is recorded for you, ask an administrator to check it.",
        "Если ваше имя в Telegram записано в вашем профиле, попросите администратора проверить его.";
    Deactivated => "Your taskboard account is deactivated; ask an administrator.",
        "Ваша учётная запись taskboard отключена; обратитесь к администратору.";
    BadCode => "This code is unknown, expired or already used; ask for a new one (board: Link Telegram).",
        "Код неизвестен, истёк или уже использован; получите новый (на доске: «Привязать Telegram»).";
    CodeOtherUser => "This Telegram account is already linked to another user; ask an administrator to unlink it first.",
        "Этот аккаунт Telegram уже привязан к другому пользователю; попросите администратора отвязать его.";
    StoreDown => "The data cannot be read or written right now; try again in a minute.",
        "Данные сейчас недоступны; попробуйте через минуту.";
    BindingHeld => "You are <b>{name}</b> ({role}) by your Telegram username. An administrator confirms this first; you will be told here.",
        "Вы — <b>{name}</b> ({role}) по имени в Telegram. Сначала это подтвердит администратор; вам придёт сообщение.";
    BindingAsk => "🔐 The Telegram account @{telegram} (id {telegram_id}) asks to be <b>{name}</b> ({role}). Confirm?",
        "🔐 Аккаунт Telegram @{telegram} (id {telegram_id}) хочет стать <b>{name}</b> ({role}). Подтвердить?";
    BindingAnnounced => "ℹ️ The Telegram account @{telegram} (id {telegram_id}) is now linked to <b>{name}</b> ({role}).",
        "ℹ️ Аккаунт Telegram @{telegram} (id {telegram_id}) привязан к <b>{name}</b> ({role}).";
    BindingConfirmed => "✅ Confirmed: you are <b>{name}</b>. You will be told about your tasks here.",
        "✅ Подтверждено: вы — <b>{name}</b>. Здесь будут уведомления о ваших задачах.";
    BindingRejected => "The link of this Telegram account to taskboard was rejected by an administrator.",
        "Администратор отклонил привязку этого аккаунта Telegram к taskboard.";
    BindingLost => "⚠️ This Telegram account is no longer linked to <b>{name}</b> in taskboard.",
        "⚠️ Этот аккаунт Telegram больше не привязан к <b>{name}</b> в taskboard.";
    BindingDone => "Done: {name} is linked.", "Готово: {name} привязан(а).";
    BindingRefused => "Rejected.", "Отклонено.";
    BindingGone => "This request was already decided or has expired.", "Этот запрос уже решён или истёк.";
    Confirm => "Confirm", "Подтвердить";
    Reject => "Reject", "Отклонить";

    // Logging in on the board through the bot.
    LoginAsk => "🔐 <b>Log in to taskboard?</b>\nAsked by {agent} from {address}.\nPress the number the board shows. If you did not ask, press Cancel.",
        "🔐 <b>Войти в taskboard?</b>\nЗапрос: {agent}, адрес {address}.\nНажмите число, которое показывает доска. Если вход запросили не вы, нажмите «Отмена».";
    LoginCancel => "Cancel", "Отмена";
    LoginApproved => "✅ You are logged in on the board. You may close this message.", "✅ Вход на доску выполнен. Это сообщение можно закрыть.";
    LoginWrong => "❌ Wrong number: this login request is cancelled. Start again on the board.",
        "❌ Неверное число: запрос на вход отменён. Начните заново на доске.";
    LoginCancelled => "Login cancelled.", "Вход отменён.";
    LoginGone => "This login request expired or was already decided. Start again on the board.",
        "Запрос на вход истёк или уже решён. Начните заново на доске.";
    LoginUnknownBrowser => "an unknown browser", "неизвестный браузер";

    // Task cards and notifications.
    CardStatus => "Status", "Статус";
    CardPriority => "Priority", "Приоритет";
    CardAssigned => "Assigned to", "Исполнитель";
    CardDue => "Due", "Срок";
    Nobody => "nobody", "не назначен";
    SomeUser => "user {id}", "пользователь {id}";
    LineDue => "due {due}", "срок {due}";
    LeadAssigned => "📌 <b>Assigned to you</b>{by}", "📌 <b>Вам назначена задача</b>{by}";
    LeadStatus => "🔄 <b>Status: {before} → {after}</b>{by}", "🔄 <b>Статус: {before} → {after}</b>{by}";
    LeadComment => "💬 <b>New comment</b>{by}:", "💬 <b>Новый комментарий</b>{by}:";
    LeadOverdue => "⏰ <b>Overdue</b>", "⏰ <b>Срок прошёл</b>";
    LeadDueSoon => "⏰ <b>Due soon</b>", "⏰ <b>Скоро срок</b>";
    By => " by {name}", " — {name}";
    ViaTelegram => " (Telegram)", " (Telegram)";
    ViaFile => " (in the file)", " (в файле)";
    KeyExpired => "🔑 Your API key \"{name}\" expired at {at}.", "🔑 Срок вашего API-ключа «{name}» истёк {at}.";
    KeyExpiring => "🔑 Your API key \"{name}\" expires at {at}.", "🔑 Ваш API-ключ «{name}» истекает {at}.";
    FileBroken => "⚠️ <b>{file} does not load</b>: {problem}\nNothing stops: writes go on and are kept; the file is left as saved. Fix that line and save — everything written meanwhile is merged in.",
        "⚠️ <b>{file} не читается</b>: {problem}\nРабота не останавливается: изменения принимаются и сохраняются, файл не трогаем. Исправьте эту строку и сохраните — всё записанное за это время будет добавлено.";

    // Reports.
    ReportHello => "☀️ <b>Hello, {name}!</b> Your day:", "☀️ <b>Здравствуйте, {name}!</b> Ваш день:";
    ReportOpen => "Open", "Открыто";
    ReportOverdue => "Overdue", "Просрочено";
    ReportDoneToday => "Done today", "Выполнено сегодня";
    ReportTeam => "<b>Team</b>: {open} open, {overdue} overdue, {done} done today, {unassigned} open without an assignee",
        "<b>Команда</b>: открыто {open}, просрочено {overdue}, выполнено сегодня {done}, без исполнителя {unassigned}";
    ReportClientTitle => "📋 <b>Your requests</b>", "📋 <b>Ваши заявки</b>";
    TeamSummary => "📊 <b>Team summary, {date}</b>", "📊 <b>Сводка команды, {date}</b>";
    TeamLine => "{name}: {open} open · {overdue} overdue · {done} done today",
        "{name}: открыто {open} · просрочено {overdue} · выполнено сегодня {done}";
    TeamAll => "<b>All</b>: {open} open, {overdue} overdue, {done} done today",
        "<b>Всего</b>: открыто {open}, просрочено {overdue}, выполнено сегодня {done}";
    ReportFileTitle => "Daily report for {name}, {date}", "Ежедневный отчёт: {name}, {date}";
    ReportFileHello => "Hello, {name}!", "Здравствуйте, {name}!";
    ReportFileOpen => "Your open tasks", "Ваши открытые задачи";
    ReportFileAll => "All tasks: {open} open, {overdue} overdue, {done} done today.",
        "Все задачи: открыто {open}, просрочено {overdue}, выполнено сегодня {done}.";
    ReportFileTeamTitle => "Team summary, {date}", "Сводка команды, {date}";
    ReportFileColumns => "| person | open | overdue | done today |", "| сотрудник | открыто | просрочено | выполнено сегодня |";

    // The analysis.
    AnalysisTitle => "🤖 <b>Analysis of #{id}</b> ({source})", "🤖 <b>Анализ №{id}</b> ({source})";
    AnalysisPriority => "Suggested priority", "Предлагаемый приоритет";
    AnalysisEffort => "Effort", "Трудоёмкость";
    AnalysisRisks => "Risks", "Риски";
    AnalysisSubtasks => "Subtasks", "Подзадачи";
    AnalysisDuplicates => "Possible duplicates", "Возможные дубликаты";
    AnalysisQuestions => "Questions", "Вопросы";
    Hours => "h", "ч";
}
