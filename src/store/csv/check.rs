//! Reading the whole data folder and checking it: every file, every cell, every
//! reference between tables. Used at start-up and by `taskboard check`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::domain::{TableKind, Vocabulary};

use super::format::{self as csv_format, Problem};
use super::{folds, journal, replay};
use crate::store::table::{self, TableData};

/// Every table of a data folder as read from its file.
pub struct FolderReport {
    /// Each record table that loaded, with its rows' lines.
    pub tables: BTreeMap<TableKind, table::Loaded>,
    /// events.csv, when it loaded.
    pub events: Option<TableData>,
    /// Problems by table; a table listed here is not written until its file is fixed.
    pub problems: BTreeMap<TableKind, Vec<Problem>>,
    /// Rows brought up to date from the journal.
    pub replayed: usize,
    /// Fields where a person's edit made while the server was stopped won over the journal.
    pub conflicts: Vec<(TableKind, replay::Conflict)>,
}

impl FolderReport {
    pub fn all_problems(&self) -> Vec<&Problem> {
        self.problems.values().flatten().collect()
    }
}

/// Reads one record table's file.
pub fn read_table(dir: &Path, kind: TableKind, vocabulary: &Vocabulary) -> Result<table::Loaded, Vec<Problem>> {
    let file = kind.spec().file_name;
    let bytes = std::fs::read(dir.join(file)).map_err(|e| {
        vec![Problem { file: file.into(), line: 0, column: 0, message: format!("cannot read the file: {e}") }]
    })?;
    let fingerprint = folds::fingerprint(&bytes);
    // Every problem in one run: the rows the parser could read are checked cell by
    // cell even when others could not be read.
    let (parsed, mut problems) = csv_format::parse_all(&bytes, file);
    // Every row owns a copy of its line now: the file's bytes can go before the rows
    // are checked, so the peak stays near twice the file, not three times.
    drop(bytes);
    let Some(parsed) = parsed else { return Err(problems) };
    match TableData::from_parsed(kind, parsed, vocabulary) {
        Ok(loaded) if problems.is_empty() => Ok(table::Loaded { fingerprint, ..loaded }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            problems.sort_by_key(|p| (p.line, p.column));
            Err(problems)
        }
    }
}

/// Reads and checks every file of the folder. Missing files count as empty tables.
pub fn read_folder(dir: &Path, vocabulary: &Vocabulary) -> FolderReport {
    let mut tables = BTreeMap::new();
    let mut problems: BTreeMap<TableKind, Vec<Problem>> = BTreeMap::new();
    for kind in TableKind::RECORDS {
        if !dir.join(kind.spec().file_name).exists() {
            tables.insert(
                kind,
                table::Loaded { data: TableData::empty(kind), lines: Vec::new(), fingerprint: (0, 0), widened: false },
            );
            continue;
        }
        match read_table(dir, kind, vocabulary) {
            Ok(loaded) => {
                tables.insert(kind, loaded);
            }
            Err(p) => {
                problems.insert(kind, p);
            }
        }
    }
    let events_path = dir.join(TableKind::Events.spec().file_name);
    let events = if events_path.exists() {
        match journal::read_events(&events_path, vocabulary) {
            Ok(e) => Some(e),
            Err(p) => {
                problems.insert(TableKind::Events, p);
                None
            }
        }
    } else {
        Some(TableData::empty(TableKind::Events))
    };
    FolderReport { tables, events, problems, replayed: 0, conflicts: Vec::new() }
}

/// Reads the folder, replays the journaled changes its files do not have yet, and
/// checks references: the state the server starts from.
pub fn open_folder(dir: &Path, vocabulary: &Vocabulary) -> FolderReport {
    let mut report = read_folder(dir, vocabulary);
    if let Some(events) = &report.events {
        let last_event = events.rows.keys().next_back().copied().unwrap_or(0);
        let marks = folds::read(dir);
        for (kind, loaded) in report.tables.iter_mut() {
            // Without a watermark the file is taken as complete.
            let from = marks.get(kind).map(|f| f.event_id).unwrap_or(last_event);
            let entries = journal::entries_after(events, from);
            let outcome = replay::replay(&mut loaded.data, &entries, from);
            report.replayed += outcome.applied;
            report.conflicts.extend(outcome.conflicts.into_iter().map(|c| (*kind, c)));
        }
    }
    check_all_references(&mut report);
    report
}

/// Checks references between the loaded tables; a table with a dangling reference
/// joins `problems`.
pub fn check_all_references(report: &mut FolderReport) {
    let snapshot: BTreeMap<TableKind, Arc<TableData>> =
        report.tables.iter().map(|(k, l)| (*k, Arc::new(l.data.clone()))).collect();
    let lookup = |k: TableKind| snapshot.get(&k).cloned();
    for (kind, loaded) in &report.tables {
        let found = table::check_references(&loaded.data, &loaded.lines, &lookup);
        if !found.is_empty() {
            report.problems.entry(*kind).or_default().extend(found);
        }
    }
    for kind in report.problems.keys() {
        report.tables.remove(kind);
    }
}
