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
                ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating => {
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
        ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating => {
            value.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(value.into()))
        }
        ColumnKind::Bool => {
            crate::domain::values::parse_bool(value).map(Value::Bool).unwrap_or(Value::String(value.into()))
        }
        ColumnKind::JsonObject => serde_json::from_str(value).unwrap_or(Value::String(value.into())),
        _ => Value::String(value.into()),
    }
}

/// A JSON request body for `table` as cells, each value of the JSON type its column
/// means: text as a string, ids and counts as whole numbers (or their digits as a
/// string), booleans as `true`/`false`, `null` to empty a column that may be empty. A
/// wrong type is a 422 naming the field, never a silent `"123"` or `"false"`. Columns
/// the table does not document are free text and take any scalar.
pub fn json_to_fields(table: TableKind, body: &Value) -> Result<Fields, Vec<FieldError>> {
    let Value::Object(map) = body else {
        return Err(vec![FieldError::new("", "the body must be a JSON object")]);
    };
    let mut fields = Fields::new();
    let mut errors = Vec::new();
    for (k, v) in map {
        match cell_of(table, k, v) {
            Ok(cell) => {
                fields.insert(k.clone(), cell);
            }
            Err(message) => errors.push(FieldError::new(k.clone(), message)),
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(errors) }
}

/// One JSON value as the cell of column `name` of `table`.
fn cell_of(table: TableKind, name: &str, value: &Value) -> Result<String, String> {
    let Some(column) = table.spec().column(name) else {
        return match value {
            Value::Null => Ok(String::new()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) => Ok(s.clone()),
            Value::Array(_) | Value::Object(_) => Err("must be a string, number, boolean or null".into()),
        };
    };
    let nullable = !column.required;
    match (column.kind, value) {
        (_, Value::Null) if nullable && column.kind != ColumnKind::Bool => Ok(String::new()),
        (_, Value::Null) if column.kind == ColumnKind::Bool => Err("must be true or false".into()),
        (_, Value::Null) => Err("is required; null is not a value".into()),
        (
            ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating,
            Value::Number(n),
        ) => whole(n).map(|n| n.to_string()).ok_or_else(|| "must be a whole number".into()),
        (
            ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating,
            Value::String(s),
        ) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
        (ColumnKind::Id | ColumnKind::Ref(_) | ColumnKind::LooseId | ColumnKind::Count | ColumnKind::Rating, _) => {
            Err("must be a whole number".into())
        }
        (ColumnKind::Bool, Value::Bool(b)) => Ok(b.to_string()),
        (ColumnKind::Bool, _) => Err("must be true or false".into()),
        // A Telegram id is text in the file but a number in Telegram's own answers.
        (ColumnKind::Text, Value::Number(n)) if name == "telegram_id" => {
            whole(n).map(|n| n.to_string()).ok_or_else(|| "must be a whole number or a string".into())
        }
        // An empty moment is no moment: null empties the column, as the document says.
        (ColumnKind::Timestamp, Value::String(s)) if s.trim().is_empty() => {
            Err("must be a timestamp (RFC 3339), or null to empty it".into())
        }
        (_, Value::String(s)) => Ok(s.clone()),
        (_, Value::Number(_) | Value::Bool(_)) => Err("must be a string".into()),
        (_, Value::Array(_) | Value::Object(_)) => Err("must be a string".into()),
    }
}

/// A JSON number that is a whole number ≥ 0: `42`, and `42.0` too, since JSON has one
/// number type and JSON Schema counts `42.0` as an integer (a float's whole part is
/// exact only up to 2^53).
pub(super) fn whole(n: &serde_json::Number) -> Option<u64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f)).map(|f| f as u64))
}

/// Parses a JSON object body, refusing a key given twice (a parser would keep one of
/// them silently, and which one differs between parsers).
pub fn parse_object(bytes: &[u8]) -> Result<Value, String> {
    struct Strict(Value);
    impl<'de> serde::Deserialize<'de> for Strict {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Strict;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Strict, A::Error> {
                    let mut map = Map::new();
                    while let Some(key) = access.next_key::<String>()? {
                        if map.contains_key(&key) {
                            return Err(serde::de::Error::custom(format!("the key {key:?} is given twice")));
                        }
                        let value: Value = access.next_value()?;
                        map.insert(key, value);
                    }
                    Ok(Strict(Value::Object(map)))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0).map_err(|e| e.to_string())
}
