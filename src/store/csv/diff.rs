//! The row diff: what changed between two snapshots of one table, row by row. A pure
//! function, so that a person's save is turned into changes the same way every time
//! and can be tested without a folder.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::store::ChangeOp;
use crate::store::table::{Fields, TableData};

/// One row that differs between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub id: u64,
    pub op: ChangeOp,
    /// The row's fields in the older snapshot (None for a created row).
    pub before: Option<Fields>,
    /// The row's fields in the newer snapshot (None for a deleted row).
    pub after: Option<Fields>,
}

/// The rows of `after` that differ from `before`, in id order. Rows compare by their
/// named fields, so a column moved in the file or a row re-quoted by a spreadsheet is
/// no change; a shared row (the same `Arc`) is skipped without comparing.
pub fn diff(before: &TableData, after: &TableData) -> Vec<RowChange> {
    let ids: BTreeSet<u64> = before.rows.keys().chain(after.rows.keys()).copied().collect();
    let mut changes = Vec::new();
    for id in ids {
        let (old, new) = (before.rows.get(&id), after.rows.get(&id));
        if let (Some(o), Some(n)) = (old, new)
            && (Arc::ptr_eq(o, n) || before.fields(o) == after.fields(n))
        {
            continue;
        }
        let op = match (old, new) {
            (None, Some(_)) => ChangeOp::Create,
            (Some(_), None) => ChangeOp::Delete,
            _ => ChangeOp::Update,
        };
        changes.push(RowChange { id, op, before: old.map(|r| before.fields(r)), after: new.map(|r| after.fields(r)) });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TableKind, Vocabulary};
    use crate::store::csv::format;

    fn tasks(csv: &str) -> TableData {
        let parsed = format::parse(csv.as_bytes(), "tasks.csv").expect("parses");
        TableData::from_parsed(TableKind::Tasks, parsed, &Vocabulary::default()).expect("loads").data
    }

    const HEADER: &str = "id,title,status,priority\n";

    #[test]
    fn identical_tables_have_no_changes() {
        let a = tasks(&format!("{HEADER}1,Fix the boiler,new,low\n2,Call Anna,done,low\n"));
        let b = tasks(&format!("{HEADER}1,Fix the boiler,new,low\n2,Call Anna,done,low\n"));
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn created_updated_and_deleted_rows_come_in_id_order() {
        let a = tasks(&format!("{HEADER}1,Fix the boiler,new,low\n2,Call Anna,done,low\n3,Order parts,new,low\n"));
        let b = tasks(&format!(
            "{HEADER}1,Fix the boiler,in_progress,low\n3,Order parts,new,low\n4,Paint the door,new,low\n"
        ));
        let changes = diff(&a, &b);
        let summary: Vec<(u64, ChangeOp)> = changes.iter().map(|c| (c.id, c.op)).collect();
        assert_eq!(summary, vec![(1, ChangeOp::Update), (2, ChangeOp::Delete), (4, ChangeOp::Create)]);
        assert_eq!(changes[0].before.as_ref().unwrap()["status"], "new");
        assert_eq!(changes[0].after.as_ref().unwrap()["status"], "in_progress");
        assert!(changes[1].after.is_none());
        assert!(changes[2].before.is_none());
        assert_eq!(changes[2].after.as_ref().unwrap()["title"], "Paint the door");
    }

    #[test]
    fn a_reordered_or_requoted_file_is_no_change() {
        let a = tasks(&format!("{HEADER}1,Fix the boiler,new,low\n2,Call Anna,done,low\n"));
        let b = tasks("priority;status;id;title\r\nlow;\"done\";2;\"Call Anna\"\r\nlow;new;1;Fix the boiler\r\n");
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn against_an_empty_table_every_row_is_created() {
        let empty = tasks(HEADER);
        let b = tasks(&format!("{HEADER}1,Fix the boiler,new,low\n"));
        let changes = diff(&empty, &b);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].op, ChangeOp::Create);
        assert_eq!(diff(&b, &empty)[0].op, ChangeOp::Delete);
    }
}
