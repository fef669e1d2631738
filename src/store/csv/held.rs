//! The held copy of a table whose file a person broke: "a broken file stops nobody".
//!
//! While a table's file does not parse, the server keeps accepting writes to that
//! table: they are durable in the journal (events.csv) and served from memory, and the
//! person's file is left byte for byte. What memory holds at the moment of the refusal
//! is written here, in `data/.taskboard/held/`, so that a server killed while the file
//! is broken starts from this copy plus the journal after it, and nothing
//! acknowledged is lost. The copy goes when the file loads again (the person's fix is
//! then merged with everything written meanwhile, as any save is).

use std::path::{Path, PathBuf};

use crate::domain::TableKind;
use crate::store::Vocabulary;
use crate::store::table::TableData;

use super::{durable, format, journal, replay};

fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(".taskboard").join("held")
}

fn copy_path(data_dir: &Path, kind: TableKind) -> PathBuf {
    dir(data_dir).join(kind.spec().file_name)
}

/// The journal event the copy is complete up to, kept beside it.
fn mark_path(data_dir: &Path, kind: TableKind) -> PathBuf {
    dir(data_dir).join(format!("{}.event_id", kind.spec().file_name))
}

/// Keeps `table`, complete up to journal event `event_id`, for a restart while the
/// table's file is broken. Private: credentials are held too.
pub fn keep(data_dir: &Path, table: &TableData, event_id: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir(data_dir))?;
    let kind = table.kind;
    durable::write_atomic(&copy_path(data_dir, kind), &table.to_bytes(), true)?;
    durable::write_atomic(&mark_path(data_dir, kind), event_id.to_string().as_bytes(), false)
}

/// Removes the held copy once the table's file loads again.
pub fn release(data_dir: &Path, kind: TableKind) {
    let _ = std::fs::remove_file(mark_path(data_dir, kind));
    let _ = std::fs::remove_file(copy_path(data_dir, kind));
}

/// The held copy brought up to date with the journal, when there is one.
pub fn load(data_dir: &Path, kind: TableKind, events: &TableData, vocabulary: &Vocabulary) -> Option<TableData> {
    let event_id: u64 = std::fs::read_to_string(mark_path(data_dir, kind)).ok()?.trim().parse().ok()?;
    let bytes = std::fs::read(copy_path(data_dir, kind)).ok()?;
    let parsed = format::parse(&bytes, kind.spec().file_name).ok()?;
    let mut table = match TableData::from_parsed(kind, parsed, vocabulary) {
        Ok(loaded) => loaded.data,
        Err(problems) => {
            tracing::error!(file = kind.spec().file_name, problem = %problems[0], "the held copy does not load");
            return None;
        }
    };
    if kind.spec().journaled {
        replay::replay(&mut table, &journal::entries_after(events, event_id), event_id);
    }
    Some(table)
}
