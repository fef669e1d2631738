//! Custom columns of tasks.csv: a team's own fields (the repair service's `techtype`,
//! `techmodel`, `project`), declared in `tasks.fields` with a type so that their cells
//! are checked in the file and over the API. An undeclared extra column is free text.

use serde::{Deserialize, Serialize};

pub use super::values::{CustomField, FieldType};

/// One entry of `tasks.fields` as config.yaml writes it:
/// `{name: techtype, type: enum, values: [washer, fridge]}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldDecl {
    pub name: String,
    #[serde(rename = "type", default = "text")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// How people read the field's name: `{en: Appliance, ru: Техника}`.
    #[serde(default, skip_serializing_if = "is_no_label")]
    pub label: super::workflow::Label,
    /// A client may set it on their own requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_editable: bool,
    /// The roles that may change it (empty: whoever may change the task; an admin always).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editable_by: Vec<String>,
}

fn is_no_label(label: &super::workflow::Label) -> bool {
    label.en.is_empty() && label.ru.is_empty()
}

fn text() -> String {
    "text".into()
}

/// The declared fields, checked: names a column can have, none documented or given
/// twice, known types, an enum with values (and only an enum).
pub fn declare(decls: &[FieldDecl]) -> Result<Vec<CustomField>, String> {
    let mut fields: Vec<CustomField> = Vec::new();
    for (i, d) in decls.iter().enumerate() {
        let at = format!("tasks.fields[{i}]");
        let name_ok = d.name.len() <= 64
            && d.name.starts_with(|c: char| c.is_ascii_lowercase())
            && d.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(format!(
                "{at}.name: {:?} is not a column name; use a-z, 0-9 and _, starting with a letter",
                d.name
            ));
        }
        if super::schema::TASKS.column(&d.name).is_some() {
            return Err(format!("{at}.name: {:?} is a documented column of tasks.csv already", d.name));
        }
        if fields.iter().any(|f| f.name == d.name) {
            return Err(format!("{at}.name: {:?} is declared twice", d.name));
        }
        let kind = match d.kind.as_str() {
            "text" => FieldType::Text,
            "number" => FieldType::Number,
            "date" => FieldType::Date,
            "enum" if d.values.is_empty() || d.values.iter().any(|v| v.trim().is_empty()) => {
                return Err(format!("{at}.values: an enum lists its values, none of them empty"));
            }
            "enum" => FieldType::Enum(d.values.clone()),
            other => return Err(format!("{at}.type: {other:?} is not a type; expected text, number, date or enum")),
        };
        if !matches!(kind, FieldType::Enum(_)) && !d.values.is_empty() {
            return Err(format!("{at}.values: only an enum has values"));
        }
        if let Some(bad) = d.editable_by.iter().find(|r| !super::values::ROLES.contains(&r.as_str())) {
            return Err(format!(
                "{at}.editable_by: {bad:?} is not a role; expected some of {}",
                super::values::ROLES.join(", ")
            ));
        }
        fields.push(CustomField { name: d.name.clone(), kind });
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, kind: &str, values: &[&str]) -> FieldDecl {
        FieldDecl {
            name: name.into(),
            kind: kind.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            ..FieldDecl::default()
        }
    }

    #[test]
    fn declarations_are_checked_and_cells_follow_their_type() {
        let fields = declare(&[
            decl("techtype", "enum", &["washer", "fridge"]),
            decl("hours", "number", &[]),
            decl("visit", "date", &[]),
        ])
        .unwrap();
        assert!(fields[0].check("washer").is_ok());
        assert!(fields[0].check("oven").unwrap_err().contains("expected one of washer, fridge"));
        assert!(fields[1].check("-3.5").is_ok() && fields[1].check("").is_ok());
        assert!(fields[1].check("three").is_err() && fields[1].check("NaN").is_err() && fields[1].check(" 3").is_err());
        assert!(fields[2].check("2026-12-01").is_ok() && fields[2].check("01.12.2026").is_err());
        for (bad, why) in [
            (decl("Tech Type", "text", &[]), "not a column name"),
            (decl("status", "text", &[]), "documented column"),
            (decl("x", "enum", &[]), "lists its values"),
            (decl("x", "color", &[]), "not a type"),
            (decl("x", "text", &["a"]), "only an enum"),
        ] {
            assert!(declare(&[bad]).unwrap_err().contains(why), "{why}");
        }
        assert!(declare(&[decl("a", "text", &[]), decl("a", "number", &[])]).unwrap_err().contains("twice"));
    }
}
