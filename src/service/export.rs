//! CSV export of a table, with the list filters, streamed in chunks so that memory
//! stays flat however many rows go out.
//!
//! Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
//! tab or carriage return) are neutralised with a leading `'` (OWASP CSV injection,
//! ASVS 1.2.10). Secret columns and the credentials table are never exported.

use std::sync::Arc;

use crate::domain::{ColumnKind, FieldError, TableKind};
use crate::store::Row;
use crate::store::TableData;

use super::access::{self, Principal, ServiceError};
use super::query::{Deadlines, ListQuery, Matcher};
use super::records::RecordService;

/// An export under way: the snapshot it reads and where it is.
pub struct Export {
    table: Arc<TableData>,
    matcher: Matcher,
    /// The columns that go out (positions in the table).
    columns: Vec<usize>,
    /// Rows in the asked order when a sort was asked for; otherwise rows are walked by
    /// id from `cursor`, so nothing is gathered.
    sorted: Option<std::vec::IntoIter<Arc<Row>>>,
    cursor: Option<u64>,
    /// Rows still allowed (`max_export_records`).
    remaining: usize,
    header_written: bool,
    bom: bool,
    /// Rows per chunk (`performance.csv_read_batch_size`).
    rows_per_chunk: usize,
    /// How many rows match, and whether the limit cut them.
    pub total: usize,
    pub truncated: bool,
}

impl RecordService {
    /// Prepares an export of `table` with `query`'s filters, at most `max_rows` rows,
    /// narrowed to what `p` may read.
    pub fn export(
        &self,
        p: &Principal,
        table: TableKind,
        mut query: ListQuery,
        max_rows: usize,
        rows_per_chunk: usize,
        bom: bool,
    ) -> Result<Export, ServiceError> {
        access::scope_query(self, p, table, &mut query)?;
        if !table.spec().exportable {
            return Err(ServiceError::invalid(vec![FieldError::new(
                "table",
                format!("{} cannot be exported", table.name()),
            )]));
        }
        Export::new(self.store().table(table)?, &query, self.deadlines(), max_rows, rows_per_chunk, bom)
            .map_err(ServiceError::invalid)
    }
}

impl Export {
    /// An export of a table snapshot (the command line reads one without a server).
    pub fn new(
        snapshot: Arc<TableData>,
        query: &ListQuery,
        deadlines: &Deadlines,
        max_rows: usize,
        rows_per_chunk: usize,
        bom: bool,
    ) -> Result<Export, Vec<FieldError>> {
        if !snapshot.spec().exportable {
            return Err(vec![FieldError::new("table", format!("{} cannot be exported", snapshot.spec().name))]);
        }
        let matcher = query.matcher(&snapshot, deadlines)?;
        let columns: Vec<usize> = matcher
            .columns
            .iter()
            .copied()
            .filter(|p| {
                let name = &snapshot.header[*p];
                snapshot.spec().column(name).is_none_or(|c| c.kind != ColumnKind::Secret)
            })
            .collect();
        let total = snapshot.rows.values().filter(|r| matcher.matches(r)).count();
        let sorted = matcher.is_sorted().then(|| {
            let mut rows: Vec<Arc<Row>> = snapshot.rows.values().filter(|r| matcher.matches(r)).cloned().collect();
            matcher.sort(&mut rows);
            rows.into_iter()
        });
        Ok(Export {
            table: snapshot,
            matcher,
            columns,
            sorted,
            cursor: Some(0),
            remaining: max_rows,
            header_written: false,
            bom,
            rows_per_chunk: rows_per_chunk.max(1),
            total,
            truncated: total > max_rows,
        })
    }
}

impl Export {
    /// The next chunk of CSV, or None when done.
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let mut buffer = Vec::with_capacity(self.rows_per_chunk.min(10_000) * 256);
        let first = !self.header_written;
        if first && self.bom {
            buffer.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(buffer);
        if first {
            self.header_written = true;
            let names: Vec<&str> = self.columns.iter().map(|p| self.table.header[*p].as_str()).collect();
            let _ = out.write_record(names);
        }
        let mut cells: Vec<String> = Vec::with_capacity(self.columns.len());
        for _ in 0..self.rows_per_chunk {
            if self.remaining == 0 {
                break;
            }
            let Some(row) = self.next_row() else { break };
            self.remaining -= 1;
            cells.clear();
            cells.extend(self.columns.iter().map(|p| neutralise(row.cell(*p))));
            let _ = out.write_record(&cells);
        }
        let bytes = out.into_inner().unwrap_or_default();
        if bytes.is_empty() { None } else { Some(bytes) }
    }

    fn next_row(&mut self) -> Option<Arc<Row>> {
        if let Some(sorted) = &mut self.sorted {
            return sorted.next();
        }
        let from = self.cursor?;
        for (id, row) in self.table.rows.range(from..) {
            if self.matcher.matches(row) {
                self.cursor = id.checked_add(1);
                return Some(row.clone());
            }
        }
        self.cursor = None;
        None
    }
}

/// A cell a spreadsheet would take for a formula gets a leading `'`.
pub fn neutralise(cell: &str) -> String {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"http://x\",\"y\")"), "'=HYPERLINK(\"http://x\",\"y\")");
        for c in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(c).starts_with('\''), "{c:?}");
        }
        assert_eq!(neutralise("plain = text"), "plain = text");
    }
}
