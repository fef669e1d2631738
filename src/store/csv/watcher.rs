//! Watching the data folder for a person's edits (notify), whichever way the editor
//! saves: in place, through a temporary file and a rename, or delete and recreate.
//!
//! Events are debounced per file and handed to the writer, which tells its own writes
//! apart by content fingerprint and merges a person's (see `CsvStore::reload_file`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::domain::TableKind;

/// Quiet time after a file's last event before it is read: editors write in bursts.
const SETTLE: Duration = Duration::from_millis(60);

/// Keeps the watch alive; dropping it stops watching.
pub struct FolderWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `dir`; `changed` is called (from a watcher thread) with each table
/// whose file changed and has settled.
pub fn watch(dir: &Path, changed: impl Fn(TableKind) + Send + 'static) -> notify::Result<FolderWatch> {
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("store-watcher".into())
        .spawn(move || settle(rx, changed))
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(FolderWatch { _watcher: watcher })
}

/// The table a path in the data folder belongs to, if a person's edit to it matters.
/// events.csv is the server's own journal (appended to all the time); temporary files
/// and the server's notes are not tables.
fn table_of(path: &Path) -> Option<TableKind> {
    let name = path.file_name()?.to_str()?;
    TableKind::RECORDS.into_iter().find(|t| t.spec().file_name == name)
}

fn settle(rx: mpsc::Receiver<PathBuf>, changed: impl Fn(TableKind)) {
    let mut pending: BTreeMap<TableKind, Instant> = BTreeMap::new();
    loop {
        let received = if pending.is_empty() {
            rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(SETTLE)
        };
        match received {
            Ok(path) => {
                if let Some(table) = table_of(&path) {
                    pending.insert(table, Instant::now());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let ready: Vec<TableKind> =
            pending.iter().filter(|(_, at)| at.elapsed() >= SETTLE).map(|(table, _)| *table).collect();
        for table in ready {
            pending.remove(&table);
            changed(table);
        }
    }
}
