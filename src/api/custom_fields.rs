//! The custom columns declared in `tasks.fields`, written into the OpenAPI document
//! after it is built from the catalog: each is a property of a task (as text, since a
//! cell is text: a `number` by its pattern, a `date` by its format, an `enum` by its
//! values), a filter of the task list and of the tasks export, and writable.

use serde_json::{Value, json};

use crate::domain::fields::{CustomField, FieldType};

/// A declared column's value as JSON carries it.
fn schema_of(field: &CustomField) -> Value {
    let description = format!("{} (a custom column, declared as {})", field.name, field.kind.name());
    match &field.kind {
        FieldType::Text => json!({"type": "string", "description": description}),
        FieldType::Number => {
            json!({"type": "string", "pattern": "^$|^-?[0-9]+(\\.[0-9]+)?$", "description": description})
        }
        FieldType::Date => {
            json!({"anyOf": [{"type": "string", "format": "date"}, {"const": ""}], "description": description})
        }
        FieldType::Enum(values) => {
            let mut values: Vec<Value> = values.iter().map(|v| json!(v)).collect();
            values.push(json!(""));
            json!({"enum": values, "description": description})
        }
    }
}

/// Adds `fields` to the task schemas, the task bodies and the task list filters.
pub fn declare(document: &mut Value, fields: &[CustomField]) {
    if fields.is_empty() {
        return;
    }
    for name in ["Task", "TaskFields"] {
        if let Some(properties) = document["components"]["schemas"][name]["properties"].as_object_mut() {
            for field in fields {
                properties.insert(field.name.clone(), json!({"anyOf": [schema_of(field), {"type": "null"}]}));
            }
        }
    }
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let on_tasks = path == "/api/tasks" || path == "/api/tasks/{id}" || path == "/api/export/tasks.csv";
        let Some(item) = item.as_object_mut().filter(|_| on_tasks) else { continue };
        for (method, operation) in item.iter_mut() {
            if method == "get"
                && path != "/api/tasks/{id}"
                && let Some(parameters) = operation["parameters"].as_array_mut()
            {
                {
                    for field in fields {
                        parameters.push(json!({"name": field.name, "in": "query", "required": false,
                            "schema": {"type": "string"}, "description": format!("Only tasks whose {} is this value (a comma means either)", field.name)}));
                    }
                }
            }
            let body = &mut operation["requestBody"]["content"]["application/json"]["schema"]["properties"];
            if let Some(properties) = body.as_object_mut() {
                for field in fields {
                    properties.insert(field.name.clone(), json!({"anyOf": [schema_of(field), {"type": "null"}]}));
                }
            }
        }
    }
}
