//! The data folder itself: its lock, the files a new folder gets, where documents
//! and uploads live, and the plain files beside the tables.

use std::path::{Path, PathBuf};

use crate::domain::TableKind;
use crate::store::{StagedBlob, TableData};

use super::durable;

/// The first `len` bytes of a file (events.csv up to what is committed).
pub(super) fn read_prefix(path: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(len as usize);
    std::fs::File::open(path)?.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Gives a new or partial folder every table file, with its header.
pub(super) fn create_missing_files(dir: &Path) -> std::io::Result<()> {
    for kind in TableKind::ALL {
        let spec = kind.spec();
        let path = dir.join(spec.file_name);
        let private = kind == TableKind::Credentials;
        if !path.exists() {
            durable::write_atomic(&path, &TableData::empty(kind).to_bytes(), private)?;
        } else if private {
            durable::make_private(&path)?;
        }
    }
    Ok(())
}

/// Takes the data folder for this process: two servers writing one folder would
/// interleave their journals and fold over each other's files.
pub(super) fn lock_folder(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let notes = dir.join(".taskboard");
    std::fs::create_dir_all(&notes)?;
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(notes.join("lock"))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(std::io::Error::other(format!(
                "another taskboard (pid {}) is using the data folder {}; stop it first",
                holder.trim(),
                dir.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A file of the data folder that is not a table (jobs.csv, reports/...): a relative
/// path of plain names, never a table's file.
pub(super) fn aux_path(data_dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && name.split('/').all(|p| !p.is_empty() && p != ".." && p != "." && !p.starts_with(".tmp-"))
        && !name.contains('\\')
        && TableKind::ALL.iter().all(|t| t.spec().file_name != name);
    plain.then(|| data_dir.join(name))
}

/// Where uploads wait for their commit.
pub(super) fn incoming_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("docs").join(".incoming")
}

/// The folder of document `id`: `data/docs/{id}/`.
pub(super) fn doc_dir(data_dir: &Path, id: u64) -> PathBuf {
    data_dir.join("docs").join(id.to_string())
}

/// Moves a staged upload into its document's folder, durably.
pub(super) fn place_attachment(data_dir: &Path, id: u64, filename: &str, staged: &StagedBlob) -> std::io::Result<()> {
    let folder = doc_dir(data_dir, id);
    if folder.exists() {
        // Left by a document whose commit never reached the journal: not ours.
        std::fs::remove_dir_all(&folder)?;
    }
    std::fs::create_dir_all(&folder)?;
    let from = staged.path().ok_or_else(|| std::io::Error::other("the upload was not staged in the folder"))?;
    std::fs::rename(from, folder.join(filename))?;
    durable::sync_dir(&folder)?;
    durable::sync_dir(&data_dir.join("docs"))
}

/// The path of the data folder's archive.
pub fn archive_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("archive")
}
