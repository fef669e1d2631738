//! The request bodies of operations that are not a record's (logins, passwords, keys,
//! ratings, jobs...) and the analysis' answer, as JSON Schema for the OpenAPI document
//! (`openapi.rs`).

use serde_json::{Map, Value, json};

/// The body of an operation that is not a record's, by the name its route gave it.
pub(super) fn named_body(name: &str) -> Value {
    let strings = |names: &[&str]| {
        let properties: Map<String, Value> =
            names.iter().map(|n| (n.to_string(), json!({"type": "string", "minLength": 1}))).collect();
        json!({"type": "object", "properties": properties, "required": names, "additionalProperties": false})
    };
    match name {
        "Login" => strings(&["username", "password"]),
        "Refresh" => strings(&["refresh_token"]),
        "PasswordChange" => {
            let mut body = strings(&["current_password", "new_password"]);
            body["properties"]["new_password"] = password_schema();
            body
        }
        "Password" => {
            let mut body = strings(&["password"]);
            body["properties"]["password"] = password_schema();
            body
        }
        "TelegramLogin" => json!({"type": "object", "required": ["id", "auth_date", "hash"],
            "properties": {"id": {"type": "integer"}, "auth_date": {"type": "integer"}, "hash": {"type": "string"},
                "first_name": {"type": "string"}, "last_name": {"type": "string"}, "username": {"type": "string"},
                "photo_url": {"type": "string"}}, "additionalProperties": false}),
        // A range that runs backwards (5-3) is the one crontab mistake the pattern
        // lets through; the server answers it with a 422 naming the field.
        "NewKey" => {
            json!({"type": "object", "required": ["name", "scope", "expires_at"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^=+@\\-\\t ]"},
                "user_id": {"type": "integer", "minimum": 1, "description": "Whose key (default: yours; others' for an admin)"},
                "scope": {"enum": crate::domain::values::KEY_SCOPES},
                "expires_at": {"type": "string", "format": "date-time"}}})
        }
        "Rating" => json!({"type": "object", "required": ["rating"], "additionalProperties": false, "properties": {
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string", "maxLength": 2000, "pattern": "^$|^[^=+@\\-\\t]"}}}),
        "Profile" => json!({"type": "object", "additionalProperties": false, "properties": {
            "full_name": {"type": "string", "maxLength": 200, "pattern": "^(?![=+@\\t\\r]|-(?![0-9.]*$| ))"},
            "phone": {"type": "string", "pattern": "^(|[0-9 +()-]*[0-9][0-9 +()-]*[0-9][0-9 +()-]*[0-9][0-9 +()-]*)$", "maxLength": 64},
            "email": {"type": "string", "maxLength": 200, "pattern": "^(|[^@\\s=+\\-][^@\\s]*@[^@\\s]+\\.[^@\\s]+)$"},
            "language": {"enum": ["ru", "en", ""]}}}),
        "Analyze" => json!({"type": "object", "additionalProperties": false,
            "properties": {"refresh": {"type": "boolean", "description": "Skip the cache"}}}),
        "job" => json!({"type": "object", "additionalProperties": false, "properties": {
            "schedule": {"type": "string", "pattern": crontab_pattern(),
                "description": "A crontab: minute hour day-of-month month day-of-week"},
            "interval": {"type": "string", "pattern": "^\\s*0*[1-9][0-9]{0,5}[smhd]\\s*$", "description": "As 15m, 2h, 1d"},
            "enabled": {"type": "boolean"},
            "description": {"type": "string"}},
            "not": {"required": ["schedule", "interval"]}}),
        other => json!({"type": "object", "title": other}),
    }
}

/// An analysis as `POST /api/tasks/{id}/analyze` answers it: what the model is asked
/// for, plus where it came from.
pub(super) fn analysis_schema() -> Value {
    let mut schema = crate::service::analysis::content_schema();
    let extra = json!({
        "task_id": {"type": "integer"}, "source": {"enum": ["llm", "heuristic"]}, "cached": {"type": "boolean"},
        "model": {"type": ["string", "null"]}, "input_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": {"type": "string", "format": "date-time"},
        "llm_error": {"type": "string", "description": "Why the model did not answer (source heuristic)"}});
    for (name, value) in extra.as_object().into_iter().flatten() {
        schema["properties"][name] = value.clone();
        if let Some(required) = schema["required"].as_array_mut().filter(|_| name != "llm_error") {
            required.push(json!(name));
        }
    }
    schema
}

/// A crontab line as `domain::schedule` reads it: five fields, each a list of `*`
/// or a number in the field's range, or a range of them, each with an optional step.
pub(super) fn crontab_pattern() -> String {
    let numbers = [
        "0*[1-5]?[0-9]",               // minute 0-59
        "0*(?:1?[0-9]|2[0-3])",        // hour 0-23
        "0*(?:[1-9]|[12][0-9]|3[01])", // day of month 1-31
        "0*(?:[1-9]|1[0-2])",          // month 1-12
        "0*[0-7]",                     // day of week 0-7 (0 and 7: Sunday)
    ];
    let fields: Vec<String> = numbers
        .iter()
        .map(|n| {
            let item = format!("(?:\\*|{n}(?:-{n})?)(?:/0*[1-9][0-9]{{0,8}})?");
            format!("{item}(?:,{item})*")
        })
        .collect();
    format!("^\\s*{}\\s*$", fields.join("\\s+"))
}

/// A password the policy accepts (auth::password): at least 8 characters with an
/// upper-case letter, a lower-case letter, a digit and a special character.
pub(super) fn password_schema() -> Value {
    json!({"type": "string", "minLength": 8,
        "pattern": "^(?=[\\s\\S]*[A-Z])(?=[\\s\\S]*[a-z])(?=[\\s\\S]*[0-9])(?=[\\s\\S]*[^0-9A-Za-z\\s])[\\s\\S]*$",
        "description": "At least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character"})
}
