//! The fold watermarks: for each table, the last journal event its file contains, and
//! the fingerprint of the file the server last wrote.
//!
//! Kept in `data/.taskboard/folds.csv`, out of a spreadsheet user's way. Without it,
//! every table file is taken as complete (a person's copy of the folder wins).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::TableKind;

use super::durable;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fold {
    /// The last event id whose change is in the file.
    pub event_id: u64,
    /// Size and xxh3 of the file as the server wrote it.
    pub bytes: u64,
    pub hash: u64,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(".taskboard").join("folds.csv")
}

/// A file's content fingerprint.
pub fn fingerprint(bytes: &[u8]) -> (u64, u64) {
    (bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(bytes))
}

pub fn read(data_dir: &Path) -> BTreeMap<TableKind, Fold> {
    let mut folds = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path(data_dir)) else {
        return folds;
    };
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.split(',').collect();
        if let [table, event_id, bytes, hash] = parts[..]
            && let (Some(kind), Ok(event_id), Ok(bytes), Ok(hash)) =
                (TableKind::from_name(table), event_id.parse(), bytes.parse(), u64::from_str_radix(hash, 16))
        {
            folds.insert(kind, Fold { event_id, bytes, hash });
        }
    }
    folds
}

pub fn write(data_dir: &Path, folds: &BTreeMap<TableKind, Fold>) -> std::io::Result<()> {
    let mut text = String::from("table,event_id,bytes,xxh3\n");
    for (kind, f) in folds {
        text.push_str(&format!("{},{},{},{:016x}\n", kind.name(), f.event_id, f.bytes, f.hash));
    }
    let p = path(data_dir);
    std::fs::create_dir_all(p.parent().unwrap_or(data_dir))?;
    durable::write_atomic(&p, text.as_bytes(), false)
}
