//! The wording of errors in Russian: a problem's `detail` and each `errors[].message`
//! are written in English where they arise (in the store, the service, the gate) and
//! put into the request's language once, as the response leaves (`server.rs`). Each
//! entry pairs an English pattern with its Russian form; `{name}` matches any text,
//! which is carried over (a few kinds of value, such as an entity or a role, are
//! translated too). A message no pattern matches stays in English: better an English
//! sentence than a wrong Russian one.

use super::Lang;

/// (English pattern, Russian form). More specific patterns come first.
pub const PATTERNS: &[(&str, &str)] = &[
    ("{entity} {id} does not exist", "{entity} {id} не существует"),
    ("no such resource", "такого ресурса нет"),
    ("invalid field values", "недопустимые значения полей"),
    ("the record changed since it was read (ETag mismatch)", "запись изменилась с момента чтения (ETag не совпадает)"),
    (
        "the {role} role may not {verb} the field {field} of a task ({why})",
        "роль «{role}» не может {verb} поле {field} задачи ({why})",
    ),
    ("the {role} role may not {verb} the field {field} of a task", "роль «{role}» не может {verb} поле {field} задачи"),
    (
        "the {role} role may not {verb} a task once it has left the status {status}",
        "роль «{role}» не может {verb} задачу, которая вышла из статуса {status}",
    ),
    ("the {role} role may not {verb} this {entity}", "роль «{role}» не может {verb} эту запись ({entity})"),
    ("the {role} role may not {verb} on task {id}", "роль «{role}» не может {verb} в задаче {id}"),
    ("the {role} role may not {verb} {what}", "роль «{role}» не может {verb}: {what}"),
    ("the {role} role may not read {what}", "роль «{role}» не может читать {what}"),
    ("the username or password is wrong", "неверное имя пользователя или пароль"),
    ("log in first: no access token was sent", "сначала войдите: токен доступа не передан"),
    ("the token is not valid", "токен недействителен"),
    ("this session was logged out or revoked", "сеанс завершён или отозван"),
    ("this account no longer exists or is deactivated", "учётная запись удалена или отключена"),
    ("this account is not active", "учётная запись не активна"),
    ("password login is off (security.validation_method)", "вход по паролю выключен (security.validation_method)"),
    ("Telegram login is off (security.validation_method)", "вход через Telegram выключен (security.validation_method)"),
    ("a read-only API key may not change anything", "ключ API только для чтения не может ничего менять"),
    (
        "may be at most {n} days from now (security.api_key_max_days)",
        "не дальше чем через {n} дн. от сегодня (security.api_key_max_days)",
    ),
    (
        "this Telegram login was already used: press the Telegram button again",
        "этот вход через Telegram уже использован: нажмите кнопку Telegram ещё раз",
    ),
    ("only the creator of task {id} may rate it", "оценить задачу {id} может только её автор"),
    ("too many requests; retry after {n} seconds", "слишком много запросов; повторите через {n} с"),
    ("is required", "обязательное поле"),
    ("contains the control character {c}; remove it", "содержит управляющий символ {c}; уберите его"),
    ("is set by the server", "заполняется сервером"),
    ("unknown field", "неизвестное поле"),
    ("must not be only spaces", "не может состоять только из пробелов"),
    ("is {n} characters long; at most {max}", "длина {n} символов; не больше {max}"),
    ("{field} is empty; a value is required", "{field} пусто; значение обязательно"),
    (
        "{value} is not a {what}; expected one of {list}",
        "{value} — недопустимое значение ({what}); ожидается одно из: {list}",
    ),
    (
        "starts like a spreadsheet formula (=, +, @, or - before one); put a space or a ' in front",
        "начинается как формула таблицы (=, +, @ или - перед ними); поставьте пробел или ' в начале",
    ),
    (
        "is required by PUT (use PATCH to change some fields)",
        "обязательно для PUT (чтобы изменить часть полей, используйте PATCH)",
    ),
    (
        "the request body is larger than performance.max_file_size_mb",
        "тело запроса больше performance.max_file_size_mb",
    ),
    ("method not allowed on this resource", "метод не разрешён для этого ресурса"),
    ("the server could not complete the request", "сервер не смог выполнить запрос"),
    ("the server is shutting down", "сервер останавливается"),
    (
        "{what} is not a phone number; use digits, spaces and + ( ) -",
        "{what} — не номер телефона; допустимы цифры, пробелы и + ( ) -",
    ),
    ("{what} is not a language; expected ru or en", "{what} — не язык; ожидается ru или en"),
    ("{what} is not an email address", "{what} — не адрес электронной почты"),
    ("{field}: {message}", "{field}: {message}"),
];

/// A few words that stand inside messages (entities, roles, verbs).
const WORDS: &[(&str, &str)] = &[
    ("task", "задача"),
    ("user", "пользователь"),
    ("comment", "комментарий"),
    ("doc", "документ"),
    ("feedback", "отзыв"),
    ("api_key", "ключ API"),
    ("admin", "администратор"),
    ("manager", "менеджер"),
    ("supervisor", "наблюдатель"),
    ("member", "исполнитель"),
    ("client", "клиент"),
    ("read", "читать"),
    ("create", "создавать"),
    ("change", "менять"),
    ("delete", "удалять"),
    ("tasks", "задачи"),
    ("users", "пользователей"),
    ("comments", "комментарии"),
    ("docs", "документы"),
    ("events", "журнал событий"),
    ("status", "статус"),
    ("priority", "приоритет"),
    ("role", "роль"),
];

/// `text` in `lang` (unchanged for English or when no pattern matches).
pub fn translate(text: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return text.to_string();
    }
    for (en, ru) in PATTERNS {
        if let Some(values) = matches(en, text) {
            let filled: Vec<(&str, String)> = values
                .into_iter()
                .map(|(name, value)| {
                    let value = match name {
                        "message" | "what" | "why" => translate(value, lang),
                        _ => word(value).to_string(),
                    };
                    (name, value)
                })
                .collect();
            let args: Vec<(&str, &dyn std::fmt::Display)> =
                filled.iter().map(|(n, v)| (*n, v as &dyn std::fmt::Display)).collect();
            return super::fill(ru, &args);
        }
    }
    word(text).to_string()
}

fn word(value: &str) -> &str {
    WORDS.iter().find(|(en, _)| *en == value).map(|(_, ru)| *ru).unwrap_or(value)
}

/// The values of `pattern`'s placeholders in `text`, if it matches the whole text.
fn matches<'p, 't>(pattern: &'p str, text: &'t str) -> Option<Vec<(&'p str, &'t str)>> {
    // Literal pieces between placeholders: lit0 {n1} lit1 {n2} lit2 ...
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        literals.push(&rest[..open]);
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest);
    if names.is_empty() {
        return (text == pattern).then(Vec::new);
    }
    let mut text_rest = text.strip_prefix(literals[0])?;
    let mut values = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1];
        let end = if i + 1 == names.len() {
            // The last placeholder takes all but the closing literal.
            if !text_rest.ends_with(next) {
                return None;
            }
            text_rest.len() - next.len()
        } else if next.is_empty() {
            return None;
        } else {
            text_rest.find(next)?
        };
        let value = &text_rest[..end];
        if value.is_empty() {
            return None;
        }
        values.push((*name, value));
        text_rest = &text_rest[end + next.len()..];
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_problems_read_in_russian() {
        assert_eq!(translate("task 42 does not exist", Lang::Ru), "задача 42 не существует");
        assert_eq!(translate("the username or password is wrong", Lang::Ru), "неверное имя пользователя или пароль");
        assert_eq!(
            translate("\"x\" is not a priority; expected one of low, high", Lang::Ru),
            "\"x\" — недопустимое значение (приоритет); ожидается одно из: low, high"
        );
        assert_eq!(translate("must not be only spaces", Lang::Ru), "не может состоять только из пробелов");
        assert_eq!(translate("something new happened", Lang::Ru), "something new happened");
        assert_eq!(translate("task 42 does not exist", Lang::En), "task 42 does not exist");
    }
}
