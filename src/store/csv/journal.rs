//! events.csv: the audit trail, and the journal that makes writes durable.
//!
//! Every committed change is appended here (its fields before and after) and fsynced,
//! once per batch, before it is acknowledged. The table files are brought up to date
//! from it shortly afterwards ("folding"), so a write costs one small append instead of
//! a rewrite of a large table. After a crash, the changes not yet folded are replayed
//! from here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::domain::{TableKind, Vocabulary};

use super::durable;
use super::format::{self as csv_format, CsvFormat, Problem, Row};
use crate::store::ChangeOp;
use crate::store::table::{Fields, TableData};

/// An event to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    pub entity: String,
    pub entity_id: Option<u64>,
    pub user_id: Option<u64>,
    pub source: String,
    pub message: String,
    pub data: Value,
    pub created_at: String,
}

/// A change read back from the journal, for replay.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub event_id: u64,
    pub table: TableKind,
    pub id: u64,
    pub op: ChangeOp,
    pub before: Fields,
    pub after: Fields,
}

/// The open events.csv, owned by the writer.
pub struct Journal {
    path: PathBuf,
    file: File,
    format: CsvFormat,
    /// Bytes in the file that are on disk.
    pub len: u64,
    /// The largest event id ever given (also counting archived files).
    pub last_id: u64,
}

impl Journal {
    /// Opens events.csv for appending. `last_id` comes from reading it and the archive.
    pub fn open(path: &Path, format: CsvFormat, last_id: u64) -> io::Result<Journal> {
        let bytes = fs::read(path)?;
        let complete = complete_len(&bytes);
        if complete < bytes.len() {
            // The server ends every row it appends with a line end, and acknowledges it
            // only once it is on disk: bytes after the last complete row are an append
            // that a crash interrupted, never an acknowledged change. They are kept aside
            // (nothing is thrown away) and cut off, so the next row starts cleanly instead
            // of continuing an open quote.
            let aside = path.with_file_name(".taskboard").join("events-torn.csv");
            fs::create_dir_all(aside.parent().unwrap_or(Path::new(".")))?;
            let mut kept = OpenOptions::new().create(true).append(true).open(&aside)?;
            kept.write_all(&bytes[complete..])?;
            kept.write_all(b"\n")?;
            kept.sync_data()?;
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(complete as u64)?;
            file.sync_all()?;
            tracing::warn!(
                bytes = bytes.len() - complete,
                kept = %aside.display(),
                "events.csv ended in a row cut short by a crash; it was never acknowledged and is kept aside"
            );
        }
        let mut file = OpenOptions::new().append(true).open(path)?;
        let mut len = complete as u64;
        if len > 0 && !bytes[..complete].ends_with(b"\n") {
            // A header alone without its line end (written by hand): give it one.
            file.write_all(format.line_end())?;
            file.sync_data()?;
            len += format.line_end().len() as u64;
        }
        Ok(Journal { path: path.to_path_buf(), file, format, len, last_id })
    }

    /// Appends rows and fsyncs them: when this returns, they survive a crash.
    pub fn append(&mut self, events: &[(u64, NewEvent)]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(events.len() * 256);
        for (id, event) in events {
            buf.extend_from_slice(event_row(*id, event, &self.format).line().as_bytes());
            buf.extend_from_slice(self.format.line_end());
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Moves the current file into `archive_dir` as `events-<first>-<last>.csv.gz` and
    /// starts a new one with the header. Only called when every change in it is folded.
    pub fn roll_over(&mut self, archive_dir: &Path, first_id: u64) -> io::Result<PathBuf> {
        fs::create_dir_all(archive_dir)?;
        let bytes = fs::read(&self.path)?;
        let target = archive_dir.join(format!("events-{first_id}-{}.csv.gz", self.last_id));
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&bytes)?;
        durable::write_atomic(&target, &encoder.finish()?, false)?;
        let header = TableData::empty(TableKind::Events);
        let mut fresh = Vec::new();
        csv_format::write_file(&mut fresh, &self.format, &header.header_line, std::iter::empty());
        durable::write_atomic(&self.path, &fresh, false)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = fresh.len() as u64;
        Ok(target)
    }
}

/// The events.csv row of an event.
pub fn event_row(id: u64, e: &NewEvent, format: &CsvFormat) -> Row {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let data = if e.data.is_null() { String::new() } else { e.data.to_string() };
    Row::from_cells(
        &[
            id.to_string(),
            e.kind.clone(),
            e.entity.clone(),
            opt(e.entity_id),
            opt(e.user_id),
            e.source.clone(),
            e.message.clone(),
            data,
            e.created_at.clone(),
        ],
        format,
    )
}

/// The length of `bytes` up to the end of its last complete row: its last line end that
/// is not inside a quoted cell. Each `"` toggles the quoting (an escaped `""` toggles
/// twice), so this needs no full parse. The first line is the header, which is never cut.
pub fn complete_len(bytes: &[u8]) -> usize {
    let mut quoted = false;
    let mut complete = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => complete = i + 1,
            _ => {}
        }
    }
    if complete == 0 { bytes.len() } else { complete }
}

/// The largest event id in the archive's file names (`events-<first>-<last>.csv.gz`).
pub fn archived_last_id(archive_dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(archive_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("events-")?.strip_suffix(".csv.gz")?;
            rest.rsplit('-').next()?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Reads events.csv as a checked table.
pub fn read_events(path: &Path, vocabulary: &Vocabulary) -> Result<TableData, Vec<Problem>> {
    let bytes = fs::read(path).map_err(|e| {
        vec![Problem { file: "events.csv".into(), line: 0, column: 0, message: format!("cannot read: {e}") }]
    })?;
    // A row cut short by a crash was never acknowledged: it is not part of the journal.
    let parsed = csv_format::parse(&bytes[..complete_len(&bytes)], "events.csv")?;
    TableData::from_parsed(TableKind::Events, parsed, vocabulary).map(|l| l.data)
}

/// The journaled changes in `events` after `after_id`, oldest first.
pub fn entries_after(events: &TableData, after_id: u64) -> Vec<JournalEntry> {
    let pos = |c: &str| events.position(c).unwrap_or(usize::MAX);
    let (p_type, p_entity, p_entity_id, p_data) = (pos("type"), pos("entity"), pos("entity_id"), pos("data"));
    let p_source = pos("source");
    let mut out = Vec::new();
    for (event_id, row) in events.rows.range(after_id + 1..) {
        // Changes that came from a file are already in it: not the server's to merge.
        if row.cell(p_source) == "file" {
            continue;
        }
        let Some(table) = TableKind::from_entity(row.cell(p_entity)) else {
            continue;
        };
        if !table.spec().journaled {
            continue;
        }
        let op = match row.cell(p_type).rsplit('.').next() {
            Some("created") => ChangeOp::Create,
            Some("updated") => ChangeOp::Update,
            Some("deleted") => ChangeOp::Delete,
            _ => continue,
        };
        let Ok(id) = row.cell(p_entity_id).parse::<u64>() else {
            continue;
        };
        let data: Map<String, Value> = serde_json::from_str(row.cell(p_data)).unwrap_or_default();
        out.push(JournalEntry {
            event_id: *event_id,
            table,
            id,
            op,
            before: fields_of(&data, "before"),
            after: fields_of(&data, "after"),
        });
    }
    out
}

fn fields_of(data: &Map<String, Value>, key: &str) -> Fields {
    match data.get(key) {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
        _ => Fields::new(),
    }
}

/// The `data` of a change event: the changed fields before and after. Secret columns
/// are replaced by a marker, so events.csv never holds a secret.
pub fn change_data(table: TableKind, before: Option<&Fields>, after: Option<&Fields>) -> Value {
    let spec = table.spec();
    let redact = |k: &str, v: &str| -> Value {
        match spec.column(k).map(|c| c.kind) {
            Some(crate::domain::ColumnKind::Secret) => Value::String("[redacted]".into()),
            _ => Value::String(v.to_string()),
        }
    };
    let mut b = Map::new();
    let mut a = Map::new();
    match (before, after) {
        (Some(before), Some(after)) => {
            for (k, v) in after {
                let old = before.get(k).map(String::as_str).unwrap_or("");
                if old != v {
                    b.insert(k.clone(), redact(k, old));
                    a.insert(k.clone(), redact(k, v));
                }
            }
        }
        (None, Some(after)) => a.extend(after.iter().map(|(k, v)| (k.clone(), redact(k, v)))),
        (Some(before), None) => b.extend(before.iter().map(|(k, v)| (k.clone(), redact(k, v)))),
        (None, None) => {}
    }
    let mut data = Map::new();
    data.insert("before".into(), Value::Object(b));
    data.insert("after".into(), Value::Object(a));
    Value::Object(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_cut_short_by_a_crash_is_not_part_of_the_journal() {
        let header = "id,type,entity,entity_id,user_id,source,message,data,created_at\n";
        let row = "1,task.updated,task,5,,api,task 5 updated,\"{\"\"after\"\":{}}\",2026-11-22T10:00:00Z\n";
        let whole = format!("{header}{row}");
        assert_eq!(complete_len(whole.as_bytes()), whole.len());
        // Cut inside the quoted data cell, after a line end inside the quotes, and in the last cell.
        let quoted_newline = format!("{whole}2,task.created,task,6,,api,\"two\nlines");
        for torn in [&whole[..whole.len() - 30], &whole[..whole.len() - 5], quoted_newline.as_str()] {
            let cut = if torn.len() > whole.len() { whole.len() } else { header.len() };
            assert_eq!(complete_len(torn.as_bytes()), cut, "{torn:?}");
        }
        // A header alone, even without its line end, is never cut.
        assert_eq!(complete_len(header.trim_end().as_bytes()), header.len() - 1);
        assert_eq!(complete_len(b""), 0);
    }

    #[test]
    fn opening_cuts_a_torn_append_keeps_it_aside_and_appends_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let header = "id,type,entity,entity_id,user_id,source,message,data,created_at\n";
        let good = "1,task.updated,task,5,,api,ok,,2026-11-22T10:00:00Z\n";
        std::fs::write(&path, format!("{header}{good}2,task.updated,task,5,,api,cut,\"{{\"\"bef")).unwrap();
        let format = CsvFormat::default();
        let mut journal = Journal::open(&path, format, 2).unwrap();
        let event = NewEvent {
            kind: "task.updated".into(),
            entity: "task".into(),
            entity_id: Some(5),
            user_id: None,
            source: "api".into(),
            message: "next".into(),
            data: Value::Null,
            created_at: "2026-11-22T10:00:01Z".into(),
        };
        journal.append(&[(3, event)]).unwrap();
        let events = read_events(&path, &Vocabulary::default()).unwrap();
        assert_eq!(events.rows.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        let aside = std::fs::read_to_string(dir.path().join(".taskboard/events-torn.csv")).unwrap();
        assert!(aside.starts_with("2,task.updated,task,5,,api,cut,"), "{aside}");
    }
}
