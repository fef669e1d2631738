//! One table in memory: the file's columns (known and unknown, in the file's order),
//! its dialect, and its rows by id, checked against the table's spec.
//!
//! A `TableData` is an immutable snapshot; the writer derives the next one from it.
//! Rows live in a persistent map, so a snapshot handed to a reader or to the folding
//! thread costs nothing to keep while the writer moves on.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::domain::{ColumnKind, TableKind, TableSpec, Vocabulary};

use super::csv::format::{self as csv_format, CsvFormat, ParsedFile, Problem, Row};

/// A record's cells by column name.
pub type Fields = BTreeMap<String, String>;

/// A table just read from its file, with the line each row starts on.
pub struct Loaded {
    pub data: TableData,
    /// (id, line) for each row, in file order.
    pub lines: Vec<(u64, u64)>,
    /// Size and xxh3 of the file as read (see `folds::fingerprint`).
    pub fingerprint: (u64, u64),
    /// Columns the file lacked were added (documented or declared ones): the file
    /// should be written again to have them.
    pub widened: bool,
}

#[derive(Clone)]
pub struct TableData {
    pub kind: TableKind,
    pub format: CsvFormat,
    /// The file's columns in the file's order; documented ones missing from the file
    /// are added at the end.
    pub header: Arc<[String]>,
    /// The header line as it is written.
    pub header_line: Arc<str>,
    /// The kind of each column of `header` (`Text` for a column the table does not
    /// document), so a hot path never looks columns up by name.
    pub kinds: Arc<[ColumnKind]>,
    /// Rows by their key.
    pub rows: imbl::OrdMap<u64, Arc<Row>>,
    /// The largest id seen (a new id is this plus one).
    pub max_id: u64,
}

impl std::fmt::Debug for TableData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableData").field("kind", &self.kind).field("rows", &self.rows.len()).finish()
    }
}

/// The kind of each column, by the table's spec.
fn kinds_of(kind: TableKind, header: &[String]) -> Arc<[ColumnKind]> {
    header.iter().map(|name| kind.spec().column(name).map_or(ColumnKind::Text, |c| c.kind)).collect()
}

impl TableData {
    /// A table with only its documented header, as a missing file is created.
    pub fn empty(kind: TableKind) -> TableData {
        let header: Vec<String> = kind.spec().header().into_iter().map(String::from).collect();
        TableData::with_header(kind, header, CsvFormat::default())
    }

    /// A table without rows whose columns are `header`, written in `format`.
    pub fn with_header(kind: TableKind, header: Vec<String>, format: CsvFormat) -> TableData {
        let header_line = Row::from_cells(&header, &format).line().to_string();
        TableData {
            kind,
            format,
            kinds: kinds_of(kind, &header),
            header: header.into(),
            header_line: header_line.into(),
            rows: imbl::OrdMap::new(),
            max_id: 0,
        }
    }

    pub fn spec(&self) -> &'static TableSpec {
        self.kind.spec()
    }

    /// Position of a column in the file, by name.
    pub fn position(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }

    pub fn get(&self, id: u64) -> Option<&Arc<Row>> {
        self.rows.get(&id)
    }

    /// A row as a map of column name to value.
    pub fn fields(&self, row: &Row) -> Fields {
        self.header.iter().enumerate().map(|(i, h)| (h.clone(), row.cell(i).to_string())).collect()
    }

    /// The value of a named column in a row ("" when the column does not exist).
    pub fn value<'r>(&self, row: &'r Row, column: &str) -> &'r str {
        self.position(column).map(|i| row.cell(i)).unwrap_or("")
    }

    /// The bytes of the whole file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.rows.len() * 128);
        csv_format::write_file(&mut out, &self.format, &self.header_line, self.rows.values().map(|r| r.as_ref()));
        out
    }

    /// Builds a row for this table from named values (missing columns are empty).
    pub fn row_from_fields(&self, fields: &Fields) -> Row {
        let cells: Vec<&str> = self.header.iter().map(|h| fields.get(h).map(String::as_str).unwrap_or("")).collect();
        Row::from_cells(&cells, &self.format)
    }

    /// Reads a parsed file into a table, checking every cell. References to other
    /// tables are checked afterwards by [`check_references`].
    pub fn from_parsed(kind: TableKind, parsed: ParsedFile, vocabulary: &Vocabulary) -> Result<Loaded, Vec<Problem>> {
        let spec = kind.spec();
        let file = spec.file_name;
        let mut problems = Vec::new();
        let ParsedFile { format, mut header, header_line, rows } = parsed;
        let mut seen = HashSet::new();
        for (i, name) in header.iter().enumerate() {
            if !seen.insert(name.as_str()) {
                let loc = csv_format::cell_location(&header_line, format.delimiter, i, 1);
                problems.push(Problem {
                    file: file.into(),
                    line: loc.line,
                    column: loc.column,
                    message: format!("column {name:?} appears twice in the header"),
                });
            }
        }
        if !header.iter().any(|h| h == spec.key) {
            problems.push(Problem {
                file: file.into(),
                line: 1,
                column: 1,
                message: format!("the header has no {:?} column; expected {}", spec.key, spec.header().join(",")),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // Documented columns the file lacks are added at the end (nothing is lost).
        // So are the custom columns declared in `tasks.fields`.
        let declared: &[crate::domain::fields::CustomField] =
            if kind == TableKind::Tasks { &vocabulary.task_fields } else { &[] };
        let missing: Vec<&str> = (spec.header().into_iter())
            .chain(declared.iter().map(|f| f.name.as_str()))
            .filter(|c| !header.iter().any(|h| h == c))
            .collect();
        let header_line = if missing.is_empty() {
            header_line
        } else {
            header.extend(missing.iter().map(|m| m.to_string()));
            Row::from_cells(&header, &format).line().to_string()
        };
        let checks: Vec<(usize, &crate::domain::Column)> =
            spec.columns.iter().filter_map(|c| header.iter().position(|h| h == c.name).map(|i| (i, c))).collect();
        let custom_checks: Vec<(usize, &crate::domain::fields::CustomField)> =
            declared.iter().filter_map(|f| header.iter().position(|h| *h == f.name).map(|i| (i, f))).collect();
        let key_pos = header.iter().position(|h| h == spec.key).unwrap_or(0);
        let mut table_rows = imbl::OrdMap::new();
        let mut lines: Vec<(u64, u64)> = Vec::with_capacity(rows.len());
        let mut max_id = 0;
        for (line, row) in rows {
            if row.len() == 1 && row.cell(0).is_empty() && header.len() > 1 {
                continue; // a line with nothing on it
            }
            let mut row_ok = true;
            for (pos, column) in &checks {
                if let Err(message) = spec.check_cell(column, row.cell(*pos), vocabulary) {
                    let loc = csv_format::cell_location(row.line(), format.delimiter, *pos, line);
                    problems.push(Problem { file: file.into(), line: loc.line, column: loc.column, message });
                    row_ok = false;
                }
            }
            for (pos, field) in &custom_checks {
                if let Err(message) = field.check(row.cell(*pos)) {
                    let loc = csv_format::cell_location(row.line(), format.delimiter, *pos, line);
                    problems.push(Problem { file: file.into(), line: loc.line, column: loc.column, message });
                    row_ok = false;
                }
            }
            if !row_ok {
                continue;
            }
            let id = row.cell(key_pos).trim().parse::<u64>().unwrap_or(0);
            if table_rows.contains_key(&id) {
                let first = lines.iter().find(|(i, _)| *i == id).map(|(_, l)| *l).unwrap_or(0);
                let loc = csv_format::cell_location(row.line(), format.delimiter, key_pos, line);
                problems.push(Problem {
                    file: file.into(),
                    line: loc.line,
                    column: loc.column,
                    message: format!("duplicate id {id}: line {first} has it already; ids must be unique"),
                });
                continue;
            }
            lines.push((id, line));
            max_id = max_id.max(id);
            // Empty cells for the added columns after the row's own bytes, which stay
            // as they were.
            let row =
                if row.len() >= header.len() { row } else { row.widened(header.len() - row.len(), format.delimiter) };
            table_rows.insert(id, Arc::new(row));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let data = TableData {
            kind,
            format,
            kinds: kinds_of(kind, &header),
            header: header.into(),
            header_line: header_line.into(),
            rows: table_rows,
            max_id,
        };
        Ok(Loaded { data, lines, fingerprint: (0, 0), widened: !missing.is_empty() })
    }
}

/// Finds cells that name a row of another table that does not exist. `lines` gives
/// the line each row starts on (from loading), for the location.
pub fn check_references(
    table: &TableData,
    lines: &[(u64, u64)],
    lookup: &dyn Fn(TableKind) -> Option<Arc<TableData>>,
) -> Vec<Problem> {
    let spec = table.spec();
    let mut problems = Vec::new();
    for column in spec.columns {
        let ColumnKind::Ref(target) = column.kind else {
            continue;
        };
        let Some(pos) = table.position(column.name) else {
            continue;
        };
        let Some(other) = lookup(target) else {
            continue;
        };
        for (id, row) in table.rows.iter() {
            let value = row.cell(pos);
            if value.is_empty() || other.rows.contains_key(&value.trim().parse().unwrap_or(0)) {
                continue;
            }
            let line = lines.iter().find(|(i, _)| i == id).map(|(_, l)| *l).unwrap_or(0);
            let loc = csv_format::cell_location(row.line(), table.format.delimiter, pos, line);
            problems.push(Problem {
                file: spec.file_name.into(),
                line: loc.line,
                column: loc.column,
                message: format!(
                    "{} {value} does not exist in {}; expected the id of an existing {}",
                    column.name,
                    target.spec().file_name,
                    target.spec().entity
                ),
            });
        }
    }
    problems
}
