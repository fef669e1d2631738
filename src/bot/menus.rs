//! The bot's menus, drawn for one person: `/settings` with a switch per kind of
//! notification, and the question that confirms a board login with three numbers.

use crate::i18n::{Lang, Msg};
use crate::service::Services;
use crate::service::access::Principal;
use crate::service::telegram::NoticeKind;

use super::cards::Reply;
use super::outbox::Button;
use super::text::escape;

/// "Log in to taskboard?" with the three numbers and Cancel, or why not.
pub(super) fn board_login_question(services: &Services, p: &Principal, code: &str, lang: Lang) -> Reply {
    use crate::service::board_login::Opened;
    match services.chats.open_board_login(p, code) {
        Ok(Opened::Ask(request)) => {
            let agent =
                if request.agent.is_empty() { lang.t(Msg::LoginUnknownBrowser).to_string() } else { request.agent };
            let text = lang.f(Msg::LoginAsk, &[("agent", &escape(&agent)), ("address", &escape(&request.address))]);
            let id = &request.request_id;
            let mut row: Vec<Button> =
                request.choices.iter().map(|n| Button { label: n.to_string(), data: format!("lg:{id}:{n}") }).collect();
            row.push(Button { label: lang.t(Msg::LoginCancel).into(), data: format!("lg:{id}:x") });
            Reply { text, buttons: vec![row] }
        }
        Ok(Opened::Gone) => Reply::text(lang.t(Msg::LoginGone)),
        Err(e) => Reply::text(escape(&e.text(lang, services.chats.by_username()))),
    }
}

/// `/settings`: each kind with its state and a button that flips it.
pub(super) fn settings(services: &Services, p: &Principal, lang: Lang) -> Reply {
    let Some(user) = p.user_id else { return Reply::text(lang.t(Msg::SettingsNeedUser)) };
    let current = services.chats.settings(user);
    let mut text = lang.t(Msg::SettingsTitle).to_string();
    let mut buttons = Vec::new();
    for kind in NoticeKind::ALL {
        let on = current.is_on(kind);
        let what = describe(kind, lang);
        text.push_str(&format!("\n{} {what}", if on { "✅" } else { "❌" }));
        buttons.push(vec![Button {
            label: lang.f(if on { Msg::TurnOff } else { Msg::TurnOn }, &[("what", &what)]),
            data: format!("set:{}:{}", kind.name(), if on { "0" } else { "1" }),
        }]);
    }
    Reply { text, buttons }
}

pub(super) fn describe(kind: NoticeKind, lang: Lang) -> &'static str {
    lang.t(match kind {
        NoticeKind::Assigned => Msg::NoticeAssigned,
        NoticeKind::Status => Msg::NoticeStatus,
        NoticeKind::Comments => Msg::NoticeComments,
        NoticeKind::Deadlines => Msg::NoticeDeadlines,
        NoticeKind::Report => Msg::NoticeReport,
        NoticeKind::Keys => Msg::NoticeKeys,
        NoticeKind::NewTasks => Msg::NoticeNewTasks,
    })
}
