//! The chat commands and the inline buttons. Each command recognises its sender
//! (`service::telegram::Chats::recognise`), then calls the same use case the REST API
//! calls, with the user's role and source `telegram`; a refusal is said in the reply
//! and changes nothing. Arguments are parsed here, and a bad one answers the command's
//! usage.
//!
//! Why this file is long: one dispatcher for every command and button, so each stays beside the others it must agree with.

use chrono::Utc;

use crate::auth::policy::Role;
use crate::domain::TableKind;
use crate::i18n::{Lang, Msg};
use crate::service::Services;
use crate::service::access::{Principal, ServiceError};
use crate::service::analysis::AnalysisError;
use crate::service::telegram::NoticeKind;
use crate::store::{Fields, StoreError};

use super::cards::{Reply, personal_report, priority_label, role_label, show_task, task_line};
use super::menus::{board_login_question, describe, settings};
use super::outbox::Button;
use super::text::{cut, escape};

/// What pressing a button does: a short notice on the user's screen, and the message
/// the button was on, redrawn.
#[derive(Debug, Clone, Default)]
pub struct Pressed {
    pub toast: String,
    pub redraw: Option<Reply>,
}

/// Who wrote, as Telegram says.
#[derive(Debug, Clone)]
pub struct Sender {
    pub id: i64,
    pub username: Option<String>,
    /// Telegram's `language_code` of the sender's client.
    pub language: Option<String>,
}

/// The commands a role may use, in `/help` and the command menu order.
pub fn commands_for(role: Option<Role>) -> Vec<(&'static str, Msg, Msg)> {
    let all = [
        ("tasks", Msg::HelpTasks, Msg::CmdTasks),
        ("task", Msg::HelpTask, Msg::CmdTask),
        ("new", Msg::HelpNew, Msg::CmdNew),
        ("status", Msg::HelpStatus, Msg::CmdStatus),
        ("done", Msg::HelpDone, Msg::CmdDone),
        ("take", Msg::HelpTake, Msg::CmdTake),
        ("comment", Msg::HelpComment, Msg::CmdComment),
        ("report", Msg::HelpReport, Msg::CmdReport),
        ("analyze", Msg::HelpAnalyze, Msg::CmdAnalyze),
        ("unassigned", Msg::HelpUnassigned, Msg::CmdUnassigned),
        ("assign", Msg::HelpAssign, Msg::CmdAssign),
        ("settings", Msg::HelpSettings, Msg::CmdSettings),
        ("help", Msg::HelpHelp, Msg::CmdHelp),
    ];
    all.into_iter()
        .filter(|(name, _, _)| match (role, *name) {
            // A client follows their requests; moving and taking work is staff's.
            (Some(Role::Client), "status" | "done" | "take") => false,
            // Dispatching is the managers' (and the admin's).
            (Some(Role::Member | Role::Client | Role::Supervisor), "unassigned" | "assign") => false,
            // A supervisor reads everything and changes nothing.
            (Some(Role::Supervisor), "new" | "status" | "done" | "take" | "comment") => false,
            _ => true,
        })
        .collect()
}

/// `/help` for a role, in a language.
fn help(lang: Lang, role: Option<Role>) -> String {
    let mut text = lang.t(Msg::HelpTitle).to_string();
    for (_, line, _) in commands_for(role) {
        text.push('\n');
        text.push_str(lang.t(line));
    }
    text
}

/// Answers one text message; also says which user wrote (None: nobody the bot knows).
pub async fn on_message(services: &Services, from: &Sender, text: &str) -> (Reply, Option<u64>) {
    let text = text.trim();
    let (command, args) = split_command(text);
    let chats = &services.chats;
    let stranger = chats.lang_for(None, from.language.as_deref());
    // A board login: only an account already linked may confirm one; nothing binds here.
    if command == "/start"
        && let Some(code) = args.strip_prefix("login-")
    {
        return match chats.bound(from.id) {
            Ok(p) => {
                let lang = chats.lang_for(p.user_id, from.language.as_deref());
                (board_login_question(services, &p, code, lang), p.user_id)
            }
            Err(e) => (Reply::text(escape(&e.text(stranger, chats.by_username()))), None),
        };
    }
    // Linking comes before recognising: the code is how an unknown account gets known.
    if matches!(command.as_str(), "/start" | "/login") && !args.is_empty() {
        return match chats.redeem(args, from.id, Utc::now()).await {
            Ok(p) => {
                let lang = chats.lang_for(p.user_id, from.language.as_deref());
                let name = p.user_id.map(|u| chats.name_of(u)).unwrap_or_else(|| p.username.clone());
                let linked = lang.f(Msg::Linked, &[("name", &escape(&name)), ("role", &role_label(lang, p.role))]);
                (Reply::text(format!("{linked}\n\n{}", help(lang, Some(p.role)))), p.user_id)
            }
            Err(e) => (Reply::text(escape(&e.text(stranger, chats.by_username()))), None),
        };
    }
    let p = match chats.recognise(from.id, from.username.as_deref()).await {
        Ok(p) => p,
        Err(e) => return (Reply::text(escape_keeping_bold(&e.text(stranger, chats.by_username()))), None),
    };
    let lang = chats.lang_for(p.user_id, from.language.as_deref());
    if let Some(user) = p.user_id {
        // Writing to the bot again undoes a block.
        let _ = chats.set_blocked(user, false, Utc::now()).await;
    }
    let me = Me { services, p: &p, lang };
    let usage = |msg: Msg| Ok(Reply::text(lang.t(msg)));
    let outcome = match command.as_str() {
        "/start" | "/help" => {
            let name = p.user_id.map(|u| chats.name_of(u)).unwrap_or_else(|| p.username.clone());
            Ok(Reply::text(format!(
                "{}\n\n{}",
                lang.f(Msg::Hello, &[("name", &escape(&name))]),
                help(lang, Some(p.role))
            )))
        }
        "/login" => usage(Msg::UsageLogin),
        "/tasks" => me.my_tasks(),
        "/task" => match task_id(args) {
            Some(id) => show_task(services, &p, id, "", lang),
            None => usage(Msg::UsageTask),
        },
        "/new" => me.new_task(args).await,
        "/status" => {
            let (id, word) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            match (task_id(id), word.trim()) {
                (Some(id), word) if !word.is_empty() => me.set_status_named(id, word).await,
                _ => Ok(Reply::text(lang.f(Msg::UsageStatus, &[("statuses", &me.status_list())]))),
            }
        }
        "/done" => match (task_id(args), services.records.deadlines().workflow.first_done()) {
            (Some(id), Some(done)) => me.set_status(id, done).await,
            (Some(_), None) => usage(Msg::NoDoneStatus),
            (None, _) => usage(Msg::UsageDone),
        },
        "/take" => match task_id(args) {
            Some(id) => me.take(id).await,
            None => usage(Msg::UsageTake),
        },
        "/comment" => {
            let (id, message) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            match (task_id(id), message.trim()) {
                (Some(id), message) if !message.is_empty() => me.comment(id, message).await,
                _ => usage(Msg::UsageComment),
            }
        }
        "/report" => me.report(),
        "/analyze" => match task_id(args) {
            Some(id) => Ok(me.analyze(id).await),
            None => usage(Msg::UsageAnalyze),
        },
        "/settings" => Ok(settings(services, &p, lang)),
        "/unassigned" => me.unassigned(),
        "/assign" => {
            let (id, who) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            match (task_id(id), who.trim()) {
                (Some(id), who) if !who.is_empty() => me.assign(id, who).await,
                _ => usage(Msg::UsageAssign),
            }
        }
        c if c.starts_with('/') => Ok(Reply::text(format!(
            "{}\n\n{}",
            lang.f(Msg::UnknownCommand, &[("command", &escape(c))]),
            help(lang, Some(p.role))
        ))),
        _ => Ok(Reply::text(format!("{}\n\n{}", lang.t(Msg::NotACommand), help(lang, Some(p.role))))),
    };
    (outcome.unwrap_or_else(|e| Reply::text(refused(&e, lang))), p.user_id)
}

/// A refusal's text keeps the catalogue's own `<b>` and escapes the rest.
fn escape_keeping_bold(text: &str) -> String {
    escape(text).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
}

/// Answers a button press. The sender is recognised and authorised again: their role
/// may have changed since the message was sent.
pub async fn on_press(services: &Services, from: &Sender, data: &str) -> Pressed {
    let chats = &services.chats;
    let p = match chats.recognise(from.id, from.username.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            let lang = chats.lang_for(None, from.language.as_deref());
            return toast(&e.text(lang, chats.by_username()));
        }
    };
    let lang = chats.lang_for(p.user_id, from.language.as_deref());
    let parts: Vec<&str> = data.split(':').collect();
    match parts.as_slice() {
        ["st", id, status, etag] => {
            let Some(id) = task_id(id) else { return toast(lang.t(Msg::BrokenButton)) };
            let if_match = (!etag.is_empty()).then(|| format!("\"{etag}\""));
            let fields: Fields = [("status".to_string(), status.to_string())].into();
            let label = services.records.deadlines().workflow.label(status, lang).to_string();
            match services.records.update(&p, TableKind::Tasks, id, fields, if_match, false).await {
                Ok(_) => Pressed {
                    toast: lang.f(Msg::ToastStatus, &[("id", &id), ("status", &label)]),
                    redraw: show_task(
                        services,
                        &p,
                        id,
                        &format!("{}\n", lang.f(Msg::YouSetStatus, &[("status", &escape(&label))])),
                        lang,
                    )
                    .ok(),
                },
                Err(ServiceError::Store(StoreError::PreconditionFailed)) => Pressed {
                    toast: lang.f(Msg::ToastChanged, &[("id", &id)]),
                    redraw: show_task(services, &p, id, &format!("{}\n", lang.t(Msg::ChangedMeanwhile)), lang).ok(),
                },
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        ["ck", item, done] => {
            let Some(item) = task_id(item) else { return toast(lang.t(Msg::BrokenButton)) };
            let fields: Fields = [("done".to_string(), (*done == "1").to_string())].into();
            match services.records.update(&p, TableKind::Checklists, item, fields, None, false).await {
                Ok(committed) => {
                    let after = committed.record.unwrap_or_default();
                    let text = after.get("text").cloned().unwrap_or_default();
                    let msg = if *done == "1" { Msg::ToastTicked } else { Msg::ToastUnticked };
                    let task = after.get("task_id").and_then(|t| t.parse::<u64>().ok());
                    Pressed {
                        toast: lang.f(msg, &[("text", &cut(&text, 60))]),
                        redraw: task.and_then(|id| show_task(services, &p, id, "", lang).ok()),
                    }
                }
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        ["set", kind, on] => {
            let Some(kind) = NoticeKind::parse(kind) else { return toast(lang.t(Msg::UnknownSetting)) };
            match chats.set_notice(&p, kind, *on == "1").await {
                Ok(_) => {
                    let what = describe(kind, lang);
                    let msg = if *on == "1" { Msg::SettingOn } else { Msg::SettingOff };
                    Pressed { toast: lang.f(msg, &[("what", &what)]), redraw: Some(settings(services, &p, lang)) }
                }
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        ["lg", request, choice] => {
            use crate::service::board_login::Pressed as Decided;
            let decided = chats.answer_board_login(&p, request, choice.parse::<u8>().ok());
            let msg = match decided {
                Ok(Decided::Approved) => Msg::LoginApproved,
                Ok(Decided::Refused) if *choice == "x" => Msg::LoginCancelled,
                Ok(Decided::Refused) => Msg::LoginWrong,
                Ok(Decided::Gone) => Msg::LoginGone,
                Err(e) => return toast(&e.text(lang, chats.by_username())),
            };
            Pressed { toast: lang.t(msg).to_string(), redraw: Some(Reply::text(lang.t(msg))) }
        }
        ["rate", task, rating] => {
            let (Some(task), Ok(rating)) = (task_id(task), rating.parse::<i64>()) else {
                return toast(lang.t(Msg::BrokenButton));
            };
            match services.records.rate(&p, task, Some(rating), None).await {
                Ok(_) => {
                    let text = lang.f(Msg::Rated, &[("rating", &"⭐".repeat(rating.clamp(1, 5) as usize))]);
                    Pressed { toast: text.clone(), redraw: Some(Reply::text(text)) }
                }
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        ["take", task] => {
            let Some(task) = task_id(task) else { return toast(lang.t(Msg::BrokenButton)) };
            match services.records.take(&p, task, None).await {
                // The message stays as it was: it may be the team chat's, where a card
                // drawn for the presser would show the whole team what only they read.
                Ok(_) => Pressed { toast: lang.t(Msg::YoursNow).into(), redraw: None },
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        ["bind", verdict, user, telegram] => {
            let (Some(user), Ok(telegram)) = (task_id(user), telegram.parse::<i64>()) else {
                return toast(lang.t(Msg::BrokenButton));
            };
            let confirm = *verdict == "ok";
            match chats.decide_binding(&p, user, telegram, confirm).await {
                Ok(_) => {
                    let text = if confirm {
                        lang.f(Msg::BindingDone, &[("name", &chats.name_of(user))])
                    } else {
                        lang.t(Msg::BindingRefused).to_string()
                    };
                    Pressed { toast: text.clone(), redraw: Some(Reply::text(escape(&text))) }
                }
                Err(ServiceError::Hidden { .. }) => toast(lang.t(Msg::BindingGone)),
                Err(e) => toast(&refused_plain(&e, lang)),
            }
        }
        _ => toast(lang.t(Msg::OldButton)),
    }
}

fn toast(text: &str) -> Pressed {
    Pressed { toast: cut(text, 190), redraw: None }
}

/// `/cmd@botname rest` → (`/cmd`, `rest`).
fn split_command(text: &str) -> (String, &str) {
    let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = head.split('@').next().unwrap_or(head).to_lowercase();
    (command, rest.trim())
}

fn task_id(text: &str) -> Option<u64> {
    text.trim().trim_start_matches(['#', '№']).parse().ok().filter(|id| *id > 0)
}

/// A refusal in words, as the REST API would give it, in `lang`; HTML-escaped.
pub fn refused(e: &ServiceError, lang: Lang) -> String {
    escape(&refused_plain(e, lang))
}

/// The same, as plain text (a button's toast).
fn refused_plain(e: &ServiceError, lang: Lang) -> String {
    use crate::i18n::problems::translate;
    match e {
        ServiceError::Store(StoreError::Invalid(errors)) => {
            let list: Vec<String> =
                errors.iter().map(|f| format!("{}: {}", f.field, translate(&f.message, lang))).collect();
            lang.f(Msg::NotDone, &[("why", &list.join("; "))])
        }
        ServiceError::Forbidden(why) => lang.f(Msg::NotAllowed, &[("why", &translate(why, lang))]),
        other => lang.f(Msg::NotDone, &[("why", &translate(&other.to_string(), lang))]),
    }
}

/// The person a command acts for, with the language they read.
struct Me<'a> {
    services: &'a Services,
    p: &'a Principal,
    lang: Lang,
}

impl Me<'_> {
    /// The statuses as this person reads them: `В работе, Завершена, …`.
    fn status_list(&self) -> String {
        let w = &self.services.records.deadlines().workflow;
        w.statuses().iter().map(|s| w.label(&s.id, self.lang).to_string()).collect::<Vec<_>>().join(", ")
    }

    fn my_tasks(&self) -> Result<Reply, ServiceError> {
        let (services, p, lang) = (self.services, self.p, self.lang);
        let me = p.user_id.map(|u| u.to_string()).unwrap_or_default();
        let open: Vec<&str> = services
            .config
            .tasks
            .statuses
            .iter()
            .map(String::as_str)
            .filter(|s| !services.records.deadlines().is_closed(s))
            .collect();
        let whose = if p.role == Role::Client { "created_by" } else { "assigned_to" };
        let params: Vec<(String, String)> = [
            (whose, me),
            ("status", open.join(",")),
            ("sort", "due_date,id".to_string()),
            ("per_page", "30".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let query = crate::service::ListQuery::from_params(&params).map_err(ServiceError::invalid)?;
        let (page, _) = services.records.list(p, TableKind::Tasks, query)?;
        if page.total == 0 {
            return Ok(Reply::text(lang.t(Msg::NoOpenTasks)));
        }
        let mut text = lang.f(Msg::YourOpenTasks, &[("count", &page.total)]);
        let workflow = &services.records.deadlines().workflow;
        for task in page.items() {
            text.push('\n');
            text.push_str(&task_line(&task, workflow, lang));
        }
        if page.total > page.rows.len() {
            text.push('\n');
            let more = lang.count((page.total - page.rows.len()) as u64, Msg::NounTask);
            text.push_str(&lang.f(Msg::MoreOnBoard, &[("tasks", &more)]));
        }
        Ok(Reply::text(text))
    }

    async fn new_task(&self, title: &str) -> Result<Reply, ServiceError> {
        if title.is_empty() {
            return Ok(Reply::text(self.lang.t(Msg::UsageNew)));
        }
        let fields: Fields = [("title".to_string(), title.to_string())].into();
        let committed = self.services.records.create(self.p, TableKind::Tasks, fields).await?;
        show_task(self.services, self.p, committed.id, &format!("{}\n", self.lang.t(Msg::Created)), self.lang)
    }

    /// `/status N WORD`: the word is an id or either label, in any case.
    async fn set_status_named(&self, id: u64, word: &str) -> Result<Reply, ServiceError> {
        match self.services.records.deadlines().workflow.resolve(word) {
            Some(status) => self.set_status(id, status).await,
            None => Ok(Reply::text(
                self.lang
                    .f(Msg::UnknownStatus, &[("status", &escape(word)), ("statuses", &escape(&self.status_list()))]),
            )),
        }
    }

    async fn set_status(&self, id: u64, status: &str) -> Result<Reply, ServiceError> {
        let fields: Fields = [("status".to_string(), status.to_string())].into();
        self.services.records.update(self.p, TableKind::Tasks, id, fields, None, false).await?;
        let label = self.services.records.deadlines().workflow.label(status, self.lang).to_string();
        let lead = format!("{}\n", self.lang.f(Msg::StatusSet, &[("status", &escape(&label))]));
        show_task(self.services, self.p, id, &lead, self.lang)
    }

    async fn take(&self, id: u64) -> Result<Reply, ServiceError> {
        self.services.records.take(self.p, id, None).await?;
        show_task(self.services, self.p, id, &format!("{}\n", self.lang.t(Msg::YoursNow)), self.lang)
    }

    async fn comment(&self, id: u64, message: &str) -> Result<Reply, ServiceError> {
        let fields: Fields = [("message".to_string(), message.to_string())].into();
        self.services.records.comment(self.p, id, fields).await?;
        Ok(Reply::text(self.lang.f(Msg::CommentAdded, &[("id", &id)])))
    }

    /// `/unassigned`: open tasks nobody has, oldest first, with "Take it".
    fn unassigned(&self) -> Result<Reply, ServiceError> {
        let (services, lang) = (self.services, self.lang);
        let open: Vec<String> = services
            .config
            .tasks
            .statuses
            .iter()
            .filter(|s| !services.records.deadlines().is_closed(s))
            .cloned()
            .collect();
        let params: Vec<(String, String)> = [
            ("assigned_to", String::new()),
            ("status", open.join(",")),
            ("sort", "id".to_string()),
            ("per_page", "20".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let query = crate::service::ListQuery::from_params(&params).map_err(ServiceError::invalid)?;
        let (page, _) = services.records.list(self.p, TableKind::Tasks, query)?;
        if page.total == 0 {
            return Ok(Reply::text(lang.t(Msg::NoUnassigned)));
        }
        let workflow = &services.records.deadlines().workflow;
        let mut text = lang.f(Msg::Unassigned, &[("count", &page.total)]);
        let mut buttons = Vec::new();
        for task in page.items() {
            text.push('\n');
            text.push_str(&task_line(&task, workflow, lang));
            let id = task.get("id").cloned().unwrap_or_default();
            buttons.push(vec![Button { label: format!("#{id} {}", lang.t(Msg::TakeIt)), data: format!("take:{id}") }]);
        }
        Ok(Reply { text, buttons })
    }

    /// `/assign N WHO`: WHO is a username or a full name (any case).
    async fn assign(&self, id: u64, who: &str) -> Result<Reply, ServiceError> {
        let lang = self.lang;
        let wanted = who.trim_start_matches('@').to_lowercase();
        let people = self.services.records.directory(self.p)?;
        let matching: Vec<_> = people
            .iter()
            .filter(|e| e.username.to_lowercase() == wanted || e.full_name.to_lowercase() == wanted)
            .collect();
        let person = match matching.as_slice() {
            [one] => *one,
            [] => return Ok(Reply::text(lang.f(Msg::NoSuchPerson, &[("who", &escape(who))]))),
            _ => return Ok(Reply::text(lang.f(Msg::TwoPeople, &[("who", &escape(who))]))),
        };
        let fields: Fields = [("assigned_to".to_string(), person.id.to_string())].into();
        self.services.records.update(self.p, TableKind::Tasks, id, fields, None, false).await?;
        let lead = format!("{}\n", lang.f(Msg::AssignedTo, &[("name", &escape(&person.name))]));
        show_task(self.services, self.p, id, &lead, lang)
    }

    fn report(&self) -> Result<Reply, ServiceError> {
        if self.p.role == Role::Client {
            return self.client_report();
        }
        let (person, team) = self.services.records.report_for(self.p, Utc::now())?;
        let workflow = &self.services.records.deadlines().workflow;
        Ok(Reply::text(personal_report(&person, team.as_ref(), workflow, self.lang)))
    }

    /// A client's `/report`: their own requests, open by status and finished.
    fn client_report(&self) -> Result<Reply, ServiceError> {
        let (services, lang) = (self.services, self.lang);
        let me = self.p.me();
        let params: Vec<(String, String)> = vec![("created_by".into(), me), ("per_page".into(), "500".into())];
        let query = crate::service::ListQuery::from_params(&params).map_err(ServiceError::invalid)?;
        let (page, _) = services.records.list(self.p, TableKind::Tasks, query)?;
        let deadlines = services.records.deadlines();
        let mut by_status: std::collections::BTreeMap<usize, (String, usize)> = Default::default();
        let (mut open, mut done) = (0, 0);
        let mut lines = Vec::new();
        for task in page.items() {
            let status = task.get("status").cloned().unwrap_or_default();
            if deadlines.is_done(&status) {
                done += 1;
            } else if !deadlines.is_closed(&status) {
                open += 1;
                let order = services.config.tasks.statuses.iter().position(|s| *s == status).unwrap_or(usize::MAX);
                by_status.entry(order).or_insert_with(|| (status.clone(), 0)).1 += 1;
                lines.push(task_line(&task, &deadlines.workflow, lang));
            }
        }
        let mut text = lang.f(Msg::ClientReport, &[("open", &open), ("done", &done)]);
        let counts: Vec<String> = by_status
            .values()
            .map(|(status, n)| format!("{} {n}", escape(deadlines.workflow.label(status, lang))))
            .collect();
        if !counts.is_empty() {
            text.push_str(&format!(" ({})", counts.join(", ")));
        }
        for line in lines.iter().take(20) {
            text.push('\n');
            text.push_str(line);
        }
        Ok(Reply::text(text))
    }

    async fn analyze(&self, id: u64) -> Reply {
        let lang = self.lang;
        match self.services.analyst.analyze(self.p, id, false).await {
            Ok(a) => {
                let c = &a.content;
                let h = lang.t(Msg::Hours);
                let mut text = format!(
                    "{}\n{}\n\n{}: <b>{}</b> — {}\n{}: {} ({}–{} {h})",
                    lang.f(Msg::AnalysisTitle, &[("id", &id), ("source", &a.source)]),
                    escape(&cut(&c.summary, 800)),
                    lang.t(Msg::AnalysisPriority),
                    escape(&priority_label(lang, &c.suggested_priority)),
                    escape(&cut(&c.priority_rationale, 300)),
                    lang.t(Msg::AnalysisEffort),
                    escape(&c.effort.size),
                    c.effort.hours_min,
                    c.effort.hours_max,
                );
                if !c.risk_flags.is_empty() {
                    text.push_str(&format!("\n\n<b>{}</b>", lang.t(Msg::AnalysisRisks)));
                    for r in c.risk_flags.iter().take(8) {
                        text.push_str(&format!(
                            "\n• {} ({}): {}",
                            escape(&r.kind),
                            escape(&r.severity),
                            escape(&cut(&r.detail, 200))
                        ));
                    }
                }
                if !c.subtasks.is_empty() {
                    text.push_str(&format!("\n\n<b>{}</b>", lang.t(Msg::AnalysisSubtasks)));
                    for s in c.subtasks.iter().take(10) {
                        text.push_str(&format!("\n• {} (~{} {h})", escape(&cut(&s.title, 150)), s.estimate_hours));
                    }
                }
                if !c.possible_duplicates.is_empty() {
                    let ids: Vec<String> = c.possible_duplicates.iter().map(|d| format!("#{}", d.task_id)).collect();
                    text.push_str(&format!("\n\n{}: {}", lang.t(Msg::AnalysisDuplicates), ids.join(", ")));
                }
                if !c.clarifying_questions.is_empty() {
                    text.push_str(&format!("\n\n<b>{}</b>", lang.t(Msg::AnalysisQuestions)));
                    for q in c.clarifying_questions.iter().take(5) {
                        text.push_str(&format!("\n• {}", escape(&cut(q, 200))));
                    }
                }
                Reply::text(text)
            }
            Err(AnalysisError::Service(e)) => Reply::text(refused(&e, lang)),
            Err(e @ AnalysisError::QuotaSpent(_)) => Reply::text(escape(&e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_lose_the_bot_name_and_keep_their_arguments() {
        assert_eq!(split_command("/Task@board_bot  42 "), ("/task".to_string(), "42"));
        assert_eq!(split_command("/comment 3 it is  fixed"), ("/comment".to_string(), "3 it is  fixed"));
        assert_eq!(split_command("/tasks"), ("/tasks".to_string(), ""));
    }

    #[test]
    fn task_numbers_are_positive_and_may_carry_a_hash() {
        assert_eq!(task_id("#12"), Some(12));
        assert_eq!(task_id("0"), None);
        assert_eq!(task_id("x"), None);
    }
}
