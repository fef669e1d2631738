//! Bringing a table read from its file up to date with journaled changes that were not
//! yet folded into it (after a crash, or while a reader rebuilds a dropped cache).
//!
//! The file may also carry a person's edits made while the server was stopped, so each
//! field is merged, not overwritten: a value the journal's changes moved *away from* is
//! stale and takes the journal's final value; a value the journal never held is the
//! person's, and it wins, with the journal's value kept in a conflict record. Replaying
//! the same entries twice gives the same table.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::journal::JournalEntry;
use crate::store::ChangeOp;
use crate::store::table::{Fields, TableData};

/// A field where the file and the journal disagree; the file's value was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub id: u64,
    /// `None` when the whole row is in question (deleted on one side, changed on the other).
    pub field: Option<String>,
    pub file_value: Option<String>,
    pub journal_value: Option<String>,
}

#[derive(Debug, Default)]
pub struct ReplayOutcome {
    /// Rows the journal changed in the table.
    pub applied: usize,
    pub conflicts: Vec<Conflict>,
}

/// Applies `entries` (oldest first) to `table`. A person's value that differs from
/// the server's is a conflict (recorded) only where the server's change is newer than
/// `seen_by_file`: the last event the file held when the server last wrote or read it,
/// since only then could the person not have seen it.
pub fn replay(table: &mut TableData, entries: &[JournalEntry], seen_by_file: u64) -> ReplayOutcome {
    let mut by_row: BTreeMap<u64, Vec<&JournalEntry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.table == table.kind) {
        by_row.entry(e.id).or_default().push(e);
    }
    // A copy that still shows the value a change replaced was made before that change:
    // every later change of the server's is one the person could not have seen.
    let seen_by_file = by_row
        .iter()
        .filter_map(|(id, chain)| {
            let row = table.rows.get(id)?;
            chain
                .iter()
                .filter(|e| e.op == ChangeOp::Update)
                .find(|e| {
                    e.before.iter().any(|(k, old)| {
                        let now = table.value(row, k);
                        now == old && e.after.get(k).is_some_and(|new| new != old)
                    })
                })
                .map(|e| e.event_id.saturating_sub(1))
        })
        .fold(seen_by_file, u64::min);
    let mut outcome = ReplayOutcome::default();
    for (id, chain) in by_row {
        table.max_id = table.max_id.max(id);
        let existed_before = chain[0].op != ChangeOp::Create;
        let exists_after = chain.last().is_some_and(|e| e.op != ChangeOp::Delete);
        // Every value each field held along the chain, and its final value.
        let mut held: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
        let mut last: Fields = Fields::new();
        // Fields (and the row) the server changed after the file last showed them.
        let mut contested: HashSet<&str> = HashSet::new();
        let row_contested = chain.iter().any(|e| e.event_id > seen_by_file);
        for e in &chain {
            if e.event_id > seen_by_file {
                contested.extend(e.after.keys().map(String::as_str));
                contested.extend(e.before.keys().map(String::as_str));
            }
            for (k, v) in &e.before {
                held.entry(k).or_default().insert(v);
            }
            for (k, v) in &e.after {
                held.entry(k).or_default().insert(v);
                last.insert(k.clone(), v.clone());
            }
            if e.op == ChangeOp::Create {
                // A row created anew starts from nothing.
                last = e.after.clone();
            }
        }
        match (table.rows.get(&id).cloned(), exists_after) {
            (Some(row), true) => {
                let mut fields = table.fields(&row);
                let mut changed = false;
                for (k, final_value) in &last {
                    let Some(current) = fields.get(k).cloned() else {
                        continue; // a column the file no longer has
                    };
                    if &current == final_value {
                        continue;
                    }
                    if held.get(k.as_str()).is_some_and(|vals| vals.contains(current.as_str())) {
                        fields.insert(k.clone(), final_value.clone());
                        changed = true;
                    } else if contested.contains(k.as_str()) {
                        outcome.conflicts.push(Conflict {
                            id,
                            field: Some(k.clone()),
                            file_value: Some(current),
                            journal_value: Some(final_value.clone()),
                        });
                    }
                }
                if changed {
                    let row = table.row_from_fields(&fields);
                    table.rows.insert(id, Arc::new(row));
                    outcome.applied += 1;
                }
            }
            (Some(row), false) => {
                // Deleted by the server: delete unless a person changed the row meanwhile.
                let fields = table.fields(&row);
                let untouched = fields.iter().all(|(k, v)| {
                    v.is_empty() || held.get(k.as_str()).is_none_or(|vals| vals.is_empty() || vals.contains(v.as_str()))
                });
                if untouched {
                    table.rows.remove(&id);
                    outcome.applied += 1;
                } else if row_contested {
                    outcome.conflicts.push(Conflict {
                        id,
                        field: None,
                        file_value: Some("kept".into()),
                        journal_value: None,
                    });
                }
            }
            (None, true) if !existed_before => {
                let row = table.row_from_fields(&last);
                table.rows.insert(id, Arc::new(row));
                outcome.applied += 1;
            }
            (None, true) => {
                // The row existed before these changes and the file no longer has it:
                // a person deleted it, and that wins.
                if !row_contested {
                    continue;
                }
                outcome.conflicts.push(Conflict {
                    id,
                    field: None,
                    file_value: None,
                    journal_value: Some("changed".into()),
                });
            }
            (None, false) => {}
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TableKind;

    fn entry(event_id: u64, id: u64, op: ChangeOp, before: &[(&str, &str)], after: &[(&str, &str)]) -> JournalEntry {
        let f = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JournalEntry { event_id, table: TableKind::Tasks, id, op, before: f(before), after: f(after) }
    }

    fn table_with(rows: &[(u64, &str, &str)]) -> TableData {
        let mut t = TableData::empty(TableKind::Tasks);
        for (id, title, status) in rows {
            let fields: Fields = [("id", id.to_string()), ("title", title.to_string()), ("status", status.to_string())]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let row = t.row_from_fields(&fields);
            t.rows.insert(*id, Arc::new(row));
        }
        t
    }

    #[test]
    fn unfolded_changes_are_applied_and_replay_is_idempotent() {
        let mut t = table_with(&[(1, "a", "new")]);
        let entries = vec![
            entry(10, 1, ChangeOp::Update, &[("status", "new")], &[("status", "in_progress")]),
            entry(11, 1, ChangeOp::Update, &[("status", "in_progress")], &[("status", "done")]),
            entry(12, 2, ChangeOp::Create, &[], &[("id", "2"), ("title", "b"), ("status", "new")]),
        ];
        let first = replay(&mut t, &entries, 0);
        assert_eq!((first.applied, first.conflicts.len()), (2, 0));
        let snapshot = t.to_bytes();
        let again = replay(&mut t, &entries, 0);
        assert_eq!((again.applied, again.conflicts.len()), (0, 0));
        assert_eq!(t.to_bytes(), snapshot);
        assert_eq!(t.value(t.get(1).unwrap(), "status"), "done");
        assert_eq!(t.value(t.get(2).unwrap(), "title"), "b");
    }

    #[test]
    fn a_persons_edit_made_while_stopped_wins_and_is_recorded() {
        let mut t = table_with(&[(1, "edited by hand", "new")]);
        let entries = vec![entry(
            10,
            1,
            ChangeOp::Update,
            &[("title", "a"), ("status", "new")],
            &[("title", "b"), ("status", "done")],
        )];
        let out = replay(&mut t, &entries, 0);
        assert_eq!(t.value(t.get(1).unwrap(), "title"), "edited by hand");
        assert_eq!(t.value(t.get(1).unwrap(), "status"), "done");
        assert_eq!(out.conflicts.len(), 1);
        assert_eq!(out.conflicts[0].journal_value.as_deref(), Some("b"));
    }

    #[test]
    fn a_stale_copy_does_not_undo_a_change_the_file_already_had() {
        // The server set status done (event 10) and wrote it into the file (seen up to
        // 10); a person saves a copy opened before that, with the old value.
        let mut t = table_with(&[(1, "a", "new")]);
        let out = replay(&mut t, &[entry(10, 1, ChangeOp::Update, &[("status", "new")], &[("status", "done")])], 10);
        assert_eq!(t.value(t.get(1).unwrap(), "status"), "done");
        assert!(out.conflicts.is_empty());
        // A value the person chose after seeing the server's is theirs, with no conflict.
        let mut t = table_with(&[(1, "a", "cancelled")]);
        let out = replay(&mut t, &[entry(10, 1, ChangeOp::Update, &[("status", "new")], &[("status", "done")])], 10);
        assert_eq!(t.value(t.get(1).unwrap(), "status"), "cancelled");
        assert!(out.conflicts.is_empty());
    }

    #[test]
    fn a_copy_older_than_a_change_makes_its_other_edits_of_later_changes_conflicts() {
        // The copy shows task 1's status from before event 10, so it predates event 10;
        // its title for task 2 differs from what event 11 set: a true conflict.
        let mut t = table_with(&[(1, "a", "new"), (2, "person", "new")]);
        let entries = vec![
            entry(10, 1, ChangeOp::Update, &[("status", "new")], &[("status", "done")]),
            entry(11, 2, ChangeOp::Update, &[("title", "b")], &[("title", "server")]),
        ];
        let out = replay(&mut t, &entries, 11);
        assert_eq!(t.value(t.get(1).unwrap(), "status"), "done");
        assert_eq!(t.value(t.get(2).unwrap(), "title"), "person");
        assert_eq!(out.conflicts.len(), 1);
        assert_eq!(out.conflicts[0].journal_value.as_deref(), Some("server"));
    }

    #[test]
    fn a_row_a_person_deleted_stays_deleted() {
        let mut t = table_with(&[]);
        let out = replay(&mut t, &[entry(10, 5, ChangeOp::Update, &[("title", "a")], &[("title", "b")])], 0);
        assert!(t.get(5).is_none());
        assert_eq!(out.conflicts.len(), 1);
    }
}
