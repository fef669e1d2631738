//! `GET /api/openapi.json`: an OpenAPI 3.1 document built from the catalog of mounted
//! operations and the tables' specs, and `GET /`: the documentation page, built from
//! the same catalog.

use serde_json::{Map, Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::values::{PRIORITIES, ROLES};

use super::bodies::{analysis_schema, named_body, password_schema};
use crate::domain::{ColumnKind, TableKind};

use super::catalog::{Catalog, Shape};
use super::reply::json_response;

/// `with_security`: whether requests need a bearer token (security.enabled); the
/// document declares the scheme only then.
pub fn routes(
    cat: &mut Catalog,
    statuses: &[String],
    fields: &[crate::domain::fields::CustomField],
    with_security: bool,
) -> BoxedFilter<(Response,)> {
    cat.add(
        "GET",
        "/api/openapi.json",
        "system",
        "This OpenAPI 3.1 document",
        None,
        Shape::Other { body: None, response: "openapi" },
    );
    cat.add("GET", "/", "system", "The API documentation page", None, Shape::Other { body: None, response: "html" });
    // Shared, not owned: warp clones a route's closure for every request it sees.
    let mut document = document(cat, statuses, with_security);
    super::custom_fields::declare(&mut document, fields);
    let document = std::sync::Arc::new(document);
    let page: std::sync::Arc<str> = page(cat).into();
    let spec = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .map(move || json_response(StatusCode::OK, &document, None));
    let index = warp::path::end().and(warp::get()).map(move || {
        let mut response = Response::new(page.to_string().into());
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    });
    spec.or(index).unify().boxed()
}

/// The OpenAPI 3.1 document of everything in the catalog.
pub fn document(cat: &Catalog, statuses: &[String], with_security: bool) -> Value {
    let mut paths = Map::new();
    for op in &cat.operations {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(op.summary));
        operation.insert("tags".into(), json!([op.tag]));
        operation.insert("operationId".into(), json!(operation_id(op.method, &op.path)));
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.split('}').next()))
            .map(|name| {
                let schema = match name {
                    "id" | "user_id" => json!({"type": "integer", "minimum": 1}),
                    "telegram_id" => json!({"type": "integer"}),
                    "topic" => json!({"enum": ["tasks", "comments", "users", "docs", "feedback", "checklists"]}),
                    _ => json!({"type": "string"}),
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let entity = op.table.map(schema_name);
        let entity_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        let mut responses = Map::new();
        match op.shape {
            Shape::List => {
                parameters.extend(list_parameters(op.table));
                // `?fields=` may leave out any field, so a list's items require none.
                let item =
                    entity.as_deref().map(|e| entity_ref(&format!("{e}Fields"))).unwrap_or(json!({"type": "object"}));
                let page = json!({"type": "object", "properties": {
                    "items": {"type": "array", "items": item}, "total": {"type": "integer"},
                    "page": {"type": "integer"}, "per_page": {"type": "integer"}}});
                responses.insert("200".into(), content("A page", "application/json", page));
            }
            Shape::Create | Shape::Get | Shape::Update | Shape::Replace => {
                let schema = entity.as_deref().map(entity_ref).unwrap_or(json!({"type": "object"}));
                if op.shape != Shape::Get {
                    // What the server accepts, which is not the record it answers with:
                    // no server-set columns, every type exact, nothing unknown.
                    let mut body =
                        op.table.map(|t| input_schema(t, op.shape, statuses)).unwrap_or(json!({"type": "object"}));
                    // A create under a task (`/api/tasks/{id}/comments`) takes the task
                    // from the path, not the body.
                    if op.shape == Shape::Create && op.path.starts_with("/api/tasks/{id}/") {
                        if let Some(properties) = body["properties"].as_object_mut() {
                            properties.remove("task_id");
                        }
                        if let Some(required) = body["required"].as_array_mut() {
                            required.retain(|c| c != "task_id");
                        }
                    }
                    operation.insert(
                        "requestBody".into(),
                        json!({"required": true, "content": {"application/json": {"schema": body}}}),
                    );
                }
                if matches!(op.shape, Shape::Update | Shape::Replace) {
                    parameters.push(
                        json!({"name": "If-Match", "in": "header", "required": false, "schema": if_match_schema(),
                        "description": "The ETag last seen; 412 when the record changed since"}),
                    );
                }
                let (code, what) = if op.shape == Shape::Create { ("201", "Created") } else { ("200", "The record") };
                let mut ok = content(what, "application/json", schema);
                ok["headers"] = json!({"ETag": {"schema": {"type": "string"}}});
                responses.insert(code.into(), ok);
            }
            Shape::Delete => {
                parameters
                    .push(json!({"name": "If-Match", "in": "header", "required": false, "schema": if_match_schema(),
                        "description": "The ETag last seen; 412 when the record changed since"}));
                if op.table == Some(TableKind::Users) {
                    let schema = entity.as_deref().map(entity_ref).unwrap_or_default();
                    responses.insert("200".into(), content("The deactivated user", "application/json", schema));
                } else {
                    responses.insert("204".into(), json!({"description": "Deleted"}));
                }
            }
            Shape::Other { body, response } => {
                if body == Some("upload") {
                    operation.insert("requestBody".into(), json!({"required": true, "content": {
                        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "additionalProperties": false, "properties": {
                            "file": {"type": "string", "contentMediaType": "application/octet-stream", "description": "The file: any bytes"},
                            "title": {"type": "string"}, "task_id": {"type": "integer", "minimum": 1}}}},
                        "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}));
                    for (name, schema) in [
                        ("filename", json!({"type": "string"})),
                        ("title", json!({"type": "string"})),
                        ("task_id", json!({"type": "integer", "minimum": 1})),
                    ] {
                        parameters.push(json!({"name": name, "in": "query", "required": false, "schema": schema,
                            "description": "For a raw-body upload (a multipart form's part of the same name wins)"}));
                    }
                }
                if let Some(name) = body.filter(|b| *b != "upload") {
                    // An analysis needs no body; every other named body is required.
                    let required = name != "Analyze";
                    operation.insert(
                        "requestBody".into(),
                        json!({"required": required, "content": {"application/json": {"schema": named_body(name)}}}),
                    );
                }
                let (code, body) = match response {
                    "Doc" => ("201", content("Uploaded", "application/json", entity_ref("Doc"))),
                    "file" => (
                        "200",
                        content("The file, with the type it was uploaded with", "*/*", json!({"type": "string"})),
                    ),
                    "csv" => {
                        parameters.extend(list_parameters(op.table));
                        ("200", content("CSV, streamed", "text/csv", json!({"type": "string"})))
                    }
                    "binary" => (
                        "200",
                        content(
                            "The archive (tar.gz)",
                            "application/gzip",
                            json!({"type": "string", "format": "binary"}),
                        ),
                    ),
                    "prometheus" => ("200", content("Prometheus text", "text/plain", json!({"type": "string"}))),
                    "html" => ("200", content("HTML", "text/html", json!({"type": "string"}))),
                    "empty" => ("204", json!({"description": "Done"})),
                    "websocket" => {
                        responses.insert(
                            "426".into(),
                            content("Not a WebSocket upgrade", "application/problem+json", entity_ref("Problem")),
                        );
                        ("101", json!({"description": "Switching to the WebSocket protocol"}))
                    }
                    "Backup" => ("201", content("Taken", "application/json", json!({"type": "object"}))),
                    "Analysis" => ("200", content("The analysis", "application/json", analysis_schema())),
                    "Feedback" => ("201", content("Rated", "application/json", entity_ref("Feedback"))),
                    "Bot" => (
                        "200",
                        content(
                            "The bot's username",
                            "application/json",
                            json!({"type": "object",
                            "required": ["username"], "properties": {"username": {"type": "string"}}}),
                        ),
                    ),
                    "TelegramLink" => (
                        "201",
                        content(
                            "The code, shown this once",
                            "application/json",
                            json!({"type": "object",
                            "required": ["code", "deep_link", "expires_at"], "properties": {
                            "code": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                            "deep_link": {"type": ["string", "null"], "description": "t.me link that starts the bot with the code (null until the bot knows its name)"},
                            "expires_at": {"type": "string", "format": "date-time"}}}),
                        ),
                    ),
                    "Key" => (
                        "201",
                        content("The key (shown this once) and its record", "application/json", {
                            let mut schema = entity_ref(&schema_name(TableKind::ApiKeys));
                            schema = json!({"allOf": [schema, {"type": "object", "required": ["key"],
                            "properties": {"key": {"type": "string", "pattern": "^tbk_[0-9a-f]{64}$"}}}]});
                            schema
                        }),
                    ),
                    "BoardLogin" => (
                        "201",
                        content(
                            "The request: show `match` large and open `deep_link` in Telegram (the code is shown this once)",
                            "application/json",
                            json!({"type": "object", "required": ["request_id", "code", "deep_link", "expires_at", "match"],
                            "properties": {
                                "request_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                                "code": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                                "deep_link": {"type": ["string", "null"]},
                                "expires_at": {"type": "string", "format": "date-time"},
                                "match": {"type": "integer", "minimum": 10, "maximum": 99}}}),
                        ),
                    ),
                    "LoginPoll" => {
                        responses.insert(
                            "202".into(),
                            content(
                                "Not confirmed yet",
                                "application/json",
                                json!({"type": "object",
                                "required": ["status"], "properties": {"status": {"const": "pending"}}}),
                            ),
                        );
                        (
                            "200",
                            content(
                                "Confirmed: the session, handed out once",
                                "application/json",
                                json!({"type": "object"}),
                            ),
                        )
                    }
                    "Bindings" => {
                        ("200", content("The waiting bindings", "application/json", super::bindings::list_schema()))
                    }
                    "Stats" => {
                        for (name, schema, what) in [
                            (
                                "group_by",
                                json!({"type": "string", "pattern": "^[A-Za-z0-9_]+$"}),
                                "A column of tasks.csv to count by",
                            ),
                            (
                                "since",
                                json!({"type": "string", "format": "date"}),
                                "Count the tasks created on this day or later",
                            ),
                            (
                                "until",
                                json!({"type": "string", "format": "date"}),
                                "Count the tasks created on this day or earlier",
                            ),
                        ] {
                            parameters.push(json!({"name": name, "in": "query", "required": false, "schema": schema, "description": what}));
                        }
                        ("200", content("The figures", "application/json", json!({"type": "object"})))
                    }
                    "Snapshot" => {
                        parameters.push(json!({"name": "fields", "in": "query", "required": false,
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_]*(,[A-Za-z0-9_]+)*$"},
                            "description": "Comma-separated columns to keep (the id always stays)"}));
                        (
                            "200",
                            content(
                                "The records, each one's ETag, and the event id to resume /ws from",
                                "application/json",
                                json!({"type": "object", "required": ["items", "event_id"], "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "etags": {"type": "object", "additionalProperties": {"type": "string"}},
                                "event_id": {"type": "integer", "minimum": 0}}}),
                            ),
                        )
                    }
                    "CalendarToken" | "Calendar" => super::calendar::documented(response),
                    "Occurrences" => {
                        parameters.push(json!({"name": "count", "in": "query", "required": false,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50}, "description": "How many (5)"}));
                        parameters.push(json!({"name": "after", "in": "query", "required": false,
                            "schema": {"type": "string", "format": "date-time"}, "description": "From when (now)"}));
                        (
                            "200",
                            content("The next occurrences", "application/json", super::recurring::occurrences_schema()),
                        )
                    }
                    "Me" => (
                        "200",
                        content(
                            "Who you are, and `can`: what the board may offer you, from the checks every \
                             request goes through (`edit`: field → the situations, relation to you:stage \
                             of the workflow, in which you change it)",
                            "application/json",
                            super::users::me_schema(),
                        ),
                    ),
                    "Task" => {
                        let record = entity_ref(&schema_name(TableKind::Tasks));
                        ("200", content("The task, now yours", "application/json", record))
                    }
                    "ApiKey" => {
                        let record = entity_ref(&schema_name(TableKind::ApiKeys));
                        ("200", content("The key's record (never the key itself)", "application/json", record))
                    }
                    _ => ("200", content("OK", "application/json", json!({"type": "object"}))),
                };
                responses.insert(code.into(), body);
            }
        }
        responses.insert(
            "default".into(),
            content("An error (RFC 9457)", "application/problem+json", entity_ref("Problem")),
        );
        // Which routes need a token, from the same rules the gate applies.
        let requirement = crate::auth::policy::requirement(op.method, &op.path);
        if with_security && requirement != crate::auth::policy::Requirement::Public {
            operation.insert("security".into(), json!([{"bearer": []}]));
        }
        operation.insert("parameters".into(), Value::Array(parameters));
        operation.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        entry[op.method.to_ascii_lowercase()] = Value::Object(operation);
    }
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), json!({"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}));
    // Every table the API serves records of (API keys are served, never exported).
    for table in TableKind::ALL.into_iter().filter(|t| t.spec().exportable || *t == TableKind::ApiKeys) {
        let record = table_schema(table, statuses);
        let mut fields = record.clone();
        fields["required"] = json!([]);
        fields["description"] = json!("A list's item: the fields ?fields= asked for, or all");
        schemas.insert(format!("{}Fields", schema_name(table)), fields);
        schemas.insert(schema_name(table), record);
    }
    let mut components = json!({"schemas": schemas});
    if with_security {
        components["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}});
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "taskboard", "version": env!("CARGO_PKG_VERSION"),
                 "description": "A task server whose database is a folder of CSV files."},
        "paths": paths,
        "components": components,
    })
}

/// `*` or the ETag last seen: not empty.
fn if_match_schema() -> Value {
    json!({"type": "string", "pattern": "\\S"})
}

pub(super) fn content(description: &str, media: &str, schema: Value) -> Value {
    json!({"description": description, "content": {media: {"schema": schema}}})
}

/// The list conventions for a list of `table` (the due-date ones only where there is
/// a due date).
fn list_parameters(table: Option<TableKind>) -> Vec<Value> {
    let p = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    let when = json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]});
    let mut params = vec![
        p("page", json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}), "Page number, from 1"),
        p("per_page", json!({"type": "integer", "minimum": 1, "maximum": 500}), "Items per page"),
        p(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 500}),
            "Instead of pages: at most this many (wins over page/per_page)",
        ),
        p("offset", json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}), "Instead of pages: skip this many"),
        p("q", json!({"type": "string"}), "Text search in title, description, message, username, filename"),
    ];
    let Some(table) = table else {
        params.push(p("sort", json!({"type": "string"}), "Fields, comma-separated; a leading - sorts descending"));
        params.push(p("fields", json!({"type": "string"}), "Keep only these fields"));
        return params;
    };
    let spec = table.spec();
    let names: Vec<&str> = spec.columns.iter().filter(|c| c.kind != ColumnKind::Secret).map(|c| c.name).collect();
    let one = names.join("|");
    params.push(p(
        "sort",
        json!({"type": "string", "pattern": format!("^(-?({one})(,-?({one}))*)?$")}),
        "Fields, comma-separated; a leading - sorts descending (empty: as if absent)",
    ));
    params.push(p(
        "fields",
        json!({"type": "string", "pattern": format!("^(({one})(,({one}))*)?$")}),
        "Keep only these fields (empty: as if absent)",
    ));
    let has = |name: &str| spec.column(name).is_some();
    if has("updated_at") {
        params.push(p("updated_since", when.clone(), "Date or timestamp"));
    }
    if has("due_date") {
        params.push(p("due_before", when.clone(), "Date or timestamp"));
        params.push(p("due_after", when, "Date or timestamp"));
    }
    if has("due_date") && has("status") {
        params.push(p("overdue", json!({"type": "boolean"}), "Due in the past and not closed"));
    }
    // Any column is a filter: one value, or several separated by commas.
    let taken: Vec<String> = params.iter().filter_map(|q| q["name"].as_str().map(str::to_string)).collect();
    for name in names.iter().filter(|n| !taken.iter().any(|t| t == *n)) {
        params.push(p(
            name,
            json!({"type": "string"}),
            "Only records whose field is this value (a comma means either)",
        ));
    }
    params
}

fn schema_name(table: TableKind) -> String {
    let entity = table.spec().entity;
    let mut chars = entity.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The schema of a cell of `kind` as the server answers it (None: never served).
fn column_schema(kind: ColumnKind, statuses: &[String]) -> Option<Value> {
    Some(match kind {
        ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId => json!({"type": "integer", "minimum": 1}),
        ColumnKind::Count => json!({"type": "integer", "minimum": 0}),
        ColumnKind::Rating => json!({"type": "integer", "minimum": 1, "maximum": 5}),
        ColumnKind::Bool => json!({"type": "boolean"}),
        ColumnKind::JsonObject => json!({"type": "object"}),
        ColumnKind::Timestamp => json!({"type": "string", "format": "date-time"}),
        ColumnKind::DueDate => json!({"type": "string", "description": "A date (2026-12-01) or a timestamp"}),
        ColumnKind::Role => json!({"enum": ROLES}),
        ColumnKind::KeyScope => json!({"enum": crate::domain::values::KEY_SCOPES}),
        ColumnKind::KeyStatus => json!({"enum": crate::domain::values::KEY_STATUSES}),
        ColumnKind::Priority => json!({"enum": PRIORITIES}),
        ColumnKind::Status => json!({"enum": statuses}),
        ColumnKind::Sha256 => json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        ColumnKind::Text => json!({"type": "string"}),
        ColumnKind::Phone => {
            json!({"type": "string", "pattern": "^[0-9 +()-]*$", "description": "As people type it: +7 900 123-45-67"})
        }
        ColumnKind::Email => json!({"type": "string", "description": "An email address"}),
        ColumnKind::TelegramUsername => json!({"type": "string", "pattern": "^(@?[A-Za-z0-9_]{3,32})?$"}),
        ColumnKind::Language => json!({"enum": ["ru", "en", ""]}),
        ColumnKind::Crontab => json!({"type": "string", "pattern": super::bodies::crontab_pattern(),
            "description": "A crontab line (minute hour day-of-month month day-of-week) in scheduler.timezone"}),
        ColumnKind::Secret => return None,
    })
}

/// A table's record schema, from its columns. Unknown columns a file has are strings.
fn table_schema(table: TableKind, statuses: &[String]) -> Value {
    let spec = table.spec();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for column in spec.columns {
        let Some(base) = column_schema(column.kind, statuses) else { continue };
        let mut schema = if column.required { base } else { json!({"anyOf": [base, {"type": "null"}]}) };
        if column.name == spec.key || matches!(column.name, "created_at" | "updated_at") {
            schema["readOnly"] = json!(true);
        }
        if column.required && column.name != spec.key {
            required.push(column.name);
        }
        properties.insert(column.name.into(), schema);
    }
    json!({"type": "object", "properties": properties, "required": required,
           "additionalProperties": {"type": ["string", "null"]}})
}

/// What a create (`POST`), change (`PATCH`) or replacement (`PUT`) of a record of
/// `table` may send: the columns a source sets (not the key, not the server's
/// timestamps, no secret), each with its exact type; text not blank, not over its
/// limit, not starting like a spreadsheet formula; nothing else. A create requires
/// the required columns that have no default; a replacement requires every one.
fn input_schema(table: TableKind, shape: Shape, statuses: &[String]) -> Value {
    let spec = table.spec();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for column in spec.columns {
        if column.name == spec.key
            || crate::domain::schema::SERVER_SET.contains(&column.name)
            || spec.fixed.contains(&column.name)
            || column.kind == ColumnKind::Secret
        {
            continue;
        }
        // Stricter than what a file may hold (the record schema): a source sends a
        // date in one of two formats, and text within the rules of the door.
        let base = match column.kind {
            // Empty, like null, clears it.
            ColumnKind::DueDate => json!({"anyOf": [
                {"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, {"const": ""}]}),
            // Not starting like a formula (=, +, @, tab, CR, or - before a non-number);
            // a required one not blank either.
            ColumnKind::Text if column.required => json!({
                "type": "string",
                "maxLength": crate::domain::schema::text_limit(column.name),
                "pattern": "^(?![=+@\\t\\r]|-(?![0-9.]*$| ))[\\s\\S]*\\S",
            }),
            ColumnKind::Text => json!({
                "type": "string",
                "maxLength": crate::domain::schema::text_limit(column.name),
                "pattern": "^(?![=+@\\t\\r]|-(?![0-9.]*$| ))",
            }),
            kind => match column_schema(kind, statuses) {
                Some(schema) => schema,
                None => continue,
            },
        };
        // A Telegram id is text in the file and a number in Telegram's own answers.
        let base = if column.name == "telegram_id" {
            json!({"anyOf": [base, {"type": "integer", "minimum": 0, "maximum": u64::MAX}]})
        } else {
            base
        };
        let nullable = !column.required && column.kind != ColumnKind::Bool;
        let schema = if nullable { json!({"anyOf": [base, {"type": "null"}]}) } else { base };
        // A new task's status is the workflow's first.
        let has_default = spec.defaults.iter().any(|(c, _)| *c == column.name)
            || (table == TableKind::Tasks && column.name == "status");
        let needed = match shape {
            Shape::Create => column.required && !has_default,
            Shape::Replace => crate::service::records::writable_columns(table).any(|c| c == column.name),
            _ => false,
        };
        if needed {
            required.push(column.name);
        }
        properties.insert(column.name.into(), schema);
    }
    if table == TableKind::Users && shape == Shape::Create {
        let mut password = password_schema();
        password["description"] = json!("An initial password (admin)");
        properties.insert("password".into(), password);
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(part.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    }
    if path == "/" {
        id.push_str("_index");
    }
    id
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The documentation page: what taskboard is and every operation it answers.
fn page(cat: &Catalog) -> String {
    let mut rows = String::new();
    for op in &cat.operations {
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
            op.method,
            escape(&op.path),
            escape(&op.summary)
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>taskboard API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;width:100%}}td{{border-top:1px solid #ddd;padding:.3rem .5rem;vertical-align:top}}
code{{font-size:13px}}</style></head>
<body><h1>taskboard {version}</h1>
<p>A task server whose database is a folder of CSV files. JSON in and out; errors are
<code>application/problem+json</code>; every record has an <code>ETag</code>.</p>
<p><a href="/board/"><strong>Open the board</strong></a> · <a href="/api/openapi.json">OpenAPI 3.1 document</a> · <a href="/api/health">health</a> · <a href="/metrics">metrics</a></p>
<table>
{rows}</table>
</body></html>
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}
