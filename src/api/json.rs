//! Records on the wire: a row's cells become typed JSON by their column's kind (ids and
//! counts as numbers, booleans as booleans, empty cells as null), and JSON bodies
//! become cells again.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::domain::{ColumnKind, FieldError, TableKind};
use crate::store::Row;
use crate::store::{Fields, TableData};

/// A row serialised as a JSON object straight from its cells (no maps in between):
/// the hot path of every read.
pub struct RowJson<'a> {
    pub table: &'a TableData,
    pub row: &'a Row,
    /// Positions to include (`fields=`), all columns when None.
    pub columns: Option<&'a [usize]>,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let every = 0..self.table.header.len();
        let positions: &mut dyn Iterator<Item = usize> = match self.columns {
            Some(p) => &mut p.iter().copied(),
            None => &mut every.clone(),
        };
        for p in positions {
            let name = &self.table.header[p];
            let kind = self.table.kinds.get(p).copied().unwrap_or(ColumnKind::Text);
            if kind == ColumnKind::Secret {
                continue; // never served
            }
            let value = self.row.cell(p);
            if value.is_empty() {
                map.serialize_entry(name, &())?;
                continue;
            }
            match kind {
                ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count => {
                    match value.parse::<u64>() {
                        Ok(n) => map.serialize_entry(name, &n)?,
                        Err(_) => map.serialize_entry(name, value)?,
                    }
                }
                ColumnKind::Bool => match crate::domain::values::parse_bool(value) {
                    Ok(b) => map.serialize_entry(name, &b)?,
                    Err(_) => map.serialize_entry(name, value)?,
                },
                ColumnKind::JsonObject => match serde_json::from_str::<Value>(value) {
                    Ok(v) => map.serialize_entry(name, &v)?,
                    Err(_) => map.serialize_entry(name, value)?,
                },
                _ => map.serialize_entry(name, value)?,
            }
        }
        map.end()
    }
}

/// A record as JSON, its columns in the table's order (`order`).
pub fn record_to_json(table: TableKind, order: &[String], fields: &Fields, only: Option<&[String]>) -> Value {
    let spec = table.spec();
    let mut map = Map::new();
    for name in order {
        if only.is_some_and(|o| !o.iter().any(|f| f == name)) {
            continue;
        }
        let value = fields.get(name).map(String::as_str).unwrap_or("");
        let kind = spec.column(name).map(|c| c.kind).unwrap_or(ColumnKind::Text);
        if kind == ColumnKind::Secret {
            continue; // never served
        }
        map.insert(name.clone(), cell_to_json(kind, value));
    }
    Value::Object(map)
}

fn cell_to_json(kind: ColumnKind, value: &str) -> Value {
    if value.is_empty() {
        return Value::Null;
    }
    match kind {
        ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count => {
            value.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(value.into()))
        }
        ColumnKind::Bool => {
            crate::domain::values::parse_bool(value).map(Value::Bool).unwrap_or(Value::String(value.into()))
        }
        ColumnKind::JsonObject => serde_json::from_str(value).unwrap_or(Value::String(value.into())),
        _ => Value::String(value.into()),
    }
}

/// A JSON request body as cells. Objects and arrays are refused per field.
pub fn json_to_fields(body: &Value) -> Result<Fields, Vec<FieldError>> {
    let Value::Object(map) = body else {
        return Err(vec![FieldError::new("", "the body must be a JSON object")]);
    };
    let mut fields = Fields::new();
    let mut errors = Vec::new();
    for (k, v) in map {
        let cell = match v {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(_) | Value::Object(_) => {
                errors.push(FieldError::new(k.clone(), "must be a string, number, boolean or null"));
                continue;
            }
        };
        fields.insert(k.clone(), cell);
    }
    if errors.is_empty() { Ok(fields) } else { Err(errors) }
}
