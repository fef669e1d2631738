//! Backups: a `.tar.gz` of the data folder (and `config.yaml`; `.env` only with
//! `backup.include_env`) with a manifest of every file's size and sha256, taken from a
//! consistent state; grandfather-father-son retention; verification; restore.
//!
//! The tables in a backup are complete (written from the store's snapshots, or read and
//! replayed from the files), so a restored folder needs no journal replay; the server's
//! notes (`data/.taskboard/`) are not backed up.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{TableKind, Vocabulary};
use crate::store::ConsistentState;
use crate::store::TableData;

/// The manifest inside every archive, as `MANIFEST.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: String,
    pub version: String,
    pub last_event_id: u64,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// One file going into an archive.
pub enum Entry {
    Bytes { path: String, bytes: Vec<u8>, private: bool },
    Disk { path: String, from: PathBuf, private: bool },
}

/// A backup file as listed.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub name: String,
    pub size_bytes: u64,
    pub created_at: String,
}

const PREFIX: &str = "taskboard-";
const SUFFIX: &str = ".tar.gz";
const STAMP: &str = "%Y%m%dT%H%M%SZ";
/// Marks a backup the `backup_data` job took, so retention keeps the newest of those
/// however many manual ones follow it on the same day.
const SCHEDULED: &str = "-scheduled";

/// Who took a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    /// Through the API or the command line.
    Manual,
    /// By the `backup_data` job.
    Scheduled,
}

/// What goes into a backup besides the tables: config.yaml, .env when asked.
pub struct Extras<'a> {
    pub config_path: Option<&'a Path>,
    pub include_env: bool,
}

/// Entries for the store's consistent state (the server's way).
pub fn entries_from_state(state: &ConsistentState, data_dir: &Path, extras: &Extras) -> std::io::Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = state
        .tables
        .iter()
        .map(|t| Entry::Bytes {
            path: format!("data/{}", t.spec().file_name),
            bytes: t.to_bytes(),
            private: t.kind == TableKind::Credentials,
        })
        .collect();
    let events = match &state.events {
        Some(events) => events.to_bytes(),
        None => {
            let mut events = Vec::new();
            std::fs::File::open(data_dir.join("events.csv"))?.take(state.events_len).read_to_end(&mut events)?;
            events
        }
    };
    entries.push(Entry::Bytes { path: "data/events.csv".into(), bytes: events, private: false });
    match &state.files {
        Some(files) => entries.extend(files.iter().map(|(path, bytes)| Entry::Bytes {
            path: format!("data/{path}"),
            bytes: bytes.clone(),
            private: false,
        })),
        None => entries.extend(other_files(data_dir)?),
    }
    entries.extend(extra_entries(extras));
    Ok(entries)
}

/// Entries read straight from a folder, its journal replayed into its tables (the
/// command line's way; safe while a server runs). Fails if a table file is broken.
pub fn entries_from_folder(data_dir: &Path, vocabulary: &Vocabulary, extras: &Extras) -> Result<Vec<Entry>, String> {
    let report = crate::store::csv::check::open_folder(data_dir, vocabulary);
    if let Some(p) = report.all_problems().first() {
        return Err(format!("the data folder has a problem; fix it before backing up: {p}"));
    }
    let mut entries = Vec::new();
    for (kind, loaded) in &report.tables {
        entries.push(Entry::Bytes {
            path: format!("data/{}", kind.spec().file_name),
            bytes: loaded.data.to_bytes(),
            private: *kind == TableKind::Credentials,
        });
    }
    let events: TableData = report.events.unwrap_or_else(|| TableData::empty(TableKind::Events));
    entries.push(Entry::Bytes { path: "data/events.csv".into(), bytes: events.to_bytes(), private: false });
    entries.extend(other_files(data_dir).map_err(|e| e.to_string())?);
    entries.extend(extra_entries(extras));
    Ok(entries)
}

fn extra_entries(extras: &Extras) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Some(config) = extras.config_path.filter(|p| p.is_file()) {
        out.push(Entry::Disk { path: "config.yaml".into(), from: config.to_path_buf(), private: false });
        let env = config.parent().unwrap_or(Path::new(".")).join(".env");
        if extras.include_env && env.is_file() {
            out.push(Entry::Disk { path: ".env".into(), from: env, private: true });
        }
    }
    out
}

/// Files of the data folder that are not tables: documents, archived events, reports.
/// Not the server's notes, temporaries, or uploads still waiting for their commit.
fn other_files(data_dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut stack = vec![data_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?.flatten().collect();
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = path.strip_prefix(data_dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if name.starts_with('.') || (dir == data_dir && name.ends_with(".csv")) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(Entry::Disk { path: format!("data/{relative}"), from: path, private: false });
            }
        }
    }
    Ok(out)
}

/// A writer that hashes what passes through it.
struct Hashing<'a, R: Read> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Takes a backup of a running store into `config.backup.dir` and applies retention:
/// the one way the API and the `backup_data` job make backups.
pub async fn create_from_store(
    store: &dyn crate::store::Storage,
    config: &crate::config::Config,
    kind: BackupKind,
) -> Result<(PathBuf, Vec<String>), String> {
    let state = store.consistent_state().await.map_err(|e| e.to_string())?;
    let data_dir = store.data_dir().to_path_buf();
    let (dir, b) = (config.backup.dir.clone(), config.backup.clone());
    let config_path = config.source_path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<(PathBuf, Vec<String>)> {
        let extras = Extras { config_path: config_path.as_deref(), include_env: b.include_env };
        let entries = entries_from_state(&state, &data_dir, &extras)?;
        let path = write_archive(entries, &dir, state.last_event_id, Utc::now(), kind)?;
        let removed = prune(&dir, Retention::from(&b));
        Ok((path, removed))
    })
    .await
    .map_err(|_| "the backup stopped".to_string())?
    .map_err(|e| format!("the backup could not be written: {e}"))
}

/// Writes the archive into `dir` durably (temporary file, fsync, rename); returns its path.
pub fn write_archive(
    entries: Vec<Entry>,
    dir: &Path,
    last_event_id: u64,
    now: DateTime<Utc>,
    kind: BackupKind,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    // Two backups in one second (a manual one beside the scheduled one) must not share
    // a name: the second would replace the first, and both would write one temporary
    // file. One writer at a time picks the next name: STAMP, STAMP-2, STAMP-3…
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let marker = if kind == BackupKind::Scheduled { SCHEDULED } else { "" };
    let stamp = now.format(STAMP).to_string();
    // After every backup of this second, even one retention removed since: the new
    // one must sort newest.
    let second = now.with_nanosecond(0).unwrap_or(now);
    let latest =
        list(dir).iter().filter_map(|b| taken_at(&b.name)).filter(|(at, _)| *at == second).map(|(_, n)| n).max();
    let name = match latest {
        None => format!("{PREFIX}{stamp}{marker}{SUFFIX}"),
        Some(n) => format!("{PREFIX}{stamp}-{}{marker}{SUFFIX}", n + 1),
    };
    let target = dir.join(&name);
    let temp = dir.join(format!(".{name}.partial"));
    let result = (|| {
        let file = std::fs::File::create(&temp)?;
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
        let mut files = Vec::new();
        for entry in entries {
            let mut hasher = Sha256::new();
            let (path, size) = match entry {
                Entry::Bytes { path, bytes, private } => {
                    let mut header = header(bytes.len() as u64, private, now);
                    tar.append_data(&mut header, &path, Hashing { inner: bytes.as_slice(), hasher: &mut hasher })?;
                    (path, bytes.len() as u64)
                }
                Entry::Disk { path, from, private } => {
                    let file = std::fs::File::open(&from)?;
                    let size = file.metadata()?.len();
                    let mut header = header(size, private, now);
                    tar.append_data(&mut header, &path, Hashing { inner: file.take(size), hasher: &mut hasher })?;
                    (path, size)
                }
            };
            files.push(ManifestFile { path, size, sha256: crate::domain::values::hex(&hasher.finalize()) });
        }
        let manifest = Manifest {
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            version: env!("CARGO_PKG_VERSION").into(),
            last_event_id,
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        let mut header = header(json.len() as u64, false, now);
        tar.append_data(&mut header, "MANIFEST.json", json.as_slice())?;
        let gz = tar.into_inner()?;
        let file = gz.finish()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &target)?;
        crate::store::csv::durable::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(|()| target)
}

fn header(size: u64, private: bool, now: DateTime<Utc>) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(if private { 0o600 } else { 0o644 });
    header.set_mtime(now.timestamp().max(0) as u64);
    header
}

/// Checks every file against the manifest; the error names the first file that is
/// missing, altered or unexpected.
pub fn verify(archive: &Path) -> Result<Manifest, String> {
    let file = std::fs::File::open(archive).map_err(|e| format!("cannot open {}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let entries = tar.entries().map_err(|e| format!("{} is not a readable archive: {e}", archive.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{} is damaged: {e}", archive.display()))?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| format!("{} is damaged at {path}: {e}", archive.display()))?;
        if path == "MANIFEST.json" {
            manifest = Some(serde_json::from_slice(&bytes).map_err(|e| format!("MANIFEST.json is not valid: {e}"))?);
        } else {
            found.insert(path, (bytes.len() as u64, crate::domain::values::hex(&Sha256::digest(&bytes))));
        }
    }
    let manifest = manifest.ok_or_else(|| format!("{} has no MANIFEST.json", archive.display()))?;
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for file in &manifest.files {
        match found.get(&file.path) {
            None => return Err(format!("{} is missing from the backup", file.path)),
            Some((size, sha)) if *size != file.size || *sha != file.sha256 => {
                return Err(format!("{} is altered (its sha256 or size differs from the manifest)", file.path));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|p| !listed.contains(p.as_str())) {
        return Err(format!("{extra} is in the backup but not in its manifest"));
    }
    Ok(manifest)
}

fn created_at(name: &str) -> Option<DateTime<Utc>> {
    taken_at(name).map(|(at, _)| at)
}

/// When a backup was taken and its place among those of the same second (1, then the
/// `-2`, `-3`… of later ones): the order newest-first sorts by.
fn taken_at(name: &str) -> Option<(DateTime<Utc>, u32)> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = stamp.strip_suffix(SCHEDULED).unwrap_or(stamp);
    let (stamp, sequence) = match stamp.rsplit_once('-') {
        Some((time, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (time, n.parse().ok()?),
        _ => (stamp, 1),
    };
    NaiveDateTime::parse_from_str(stamp, STAMP).ok().map(|t| (t.and_utc(), sequence))
}

/// Who took the backup of this name.
pub fn kind_of(name: &str) -> BackupKind {
    if name.ends_with(&format!("{SCHEDULED}{SUFFIX}")) { BackupKind::Scheduled } else { BackupKind::Manual }
}

/// A backup named as `taskboard backup list` and the API name it, or a path to one.
pub fn locate(dir: &Path, name_or_path: &Path) -> PathBuf {
    let bare = name_or_path.components().count() == 1;
    if bare && !name_or_path.exists() && dir.join(name_or_path).exists() {
        dir.join(name_or_path)
    } else {
        name_or_path.to_path_buf()
    }
}

/// The backups in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<BackupInfo> {
    let mut out: Vec<(DateTime<Utc>, BackupInfo)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let at = created_at(&name)?;
                    let size_bytes = e.metadata().ok()?.len();
                    Some((
                        at,
                        BackupInfo {
                            name,
                            size_bytes,
                            created_at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(at, info)| std::cmp::Reverse(taken_at(&info.name).unwrap_or((*at, 1))));
    out.into_iter().map(|(_, info)| info).collect()
}

/// How many backups retention keeps (the `backup.keep_*` keys).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The newest this many, whatever their dates.
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl From<&crate::config::Backup> for Retention {
    fn from(b: &crate::config::Backup) -> Self {
        Self { last: b.keep_last, daily: b.keep_daily, weekly: b.keep_weekly, monthly: b.keep_monthly }
    }
}

/// The backups grandfather-father-son retention keeps: the newest `last`, the newest
/// of each of the last `daily` days, `weekly` ISO weeks and `monthly` months that have
/// one, and always the newest of each kind.
pub fn kept(names: &[String], policy: Retention) -> BTreeSet<String> {
    let Retention { last, daily, weekly, monthly } = policy;
    let mut dated: Vec<((DateTime<Utc>, u32), &String)> =
        names.iter().filter_map(|n| Some((taken_at(n)?, n))).collect();
    dated.sort_by_key(|d| std::cmp::Reverse(d.0)); // newest first, the later of one second first
    let mut keep: BTreeSet<String> = dated.iter().take(last as usize).map(|(_, n)| (*n).clone()).collect();
    // The newest of each kind stays, whatever the buckets say: a manual backup taken
    // minutes after the nightly one must not remove it.
    for kind in [BackupKind::Manual, BackupKind::Scheduled] {
        if let Some((_, newest)) = dated.iter().find(|(_, n)| kind_of(n) == kind) {
            keep.insert((*newest).clone());
        }
    }
    let mut bucket = |count: u32, key: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
        let mut seen = BTreeSet::new();
        for ((at, _), name) in &dated {
            if seen.len() as u32 >= count {
                break;
            }
            if seen.insert(key(at)) {
                keep.insert((*name).clone());
            }
        }
    };
    bucket(daily, &|t| (t.year(), t.ordinal()));
    bucket(weekly, &|t| (t.iso_week().year(), t.iso_week().week()));
    bucket(monthly, &|t| (t.year(), t.month()));
    keep
}

/// Removes the backups retention does not keep; returns their names.
pub fn prune(dir: &Path, policy: Retention) -> Vec<String> {
    let names: Vec<String> = list(dir).into_iter().map(|b| b.name).collect();
    let keep = kept(&names, policy);
    let mut removed = Vec::new();
    for name in names.into_iter().filter(|n| !keep.contains(n)) {
        if std::fs::remove_file(dir.join(&name)).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the data folder that was there went.
    pub moved_aside: Option<PathBuf>,
    /// Where the backup's config.yaml was written, for comparing by hand.
    pub config_copy: Option<PathBuf>,
}

/// Restores `archive` into `data_dir`: verifies it first, refuses while a server holds
/// the folder (unless `force`), moves the current folder aside (never deletes it), and
/// writes the backup's config.yaml beside `config_path` as `config.yaml.from-backup`.
pub fn restore(archive: &Path, data_dir: &Path, config_path: Option<&Path>, force: bool) -> Result<Restored, String> {
    let manifest = verify(archive)?;
    if !force && let Some(pid) = server_holding(data_dir) {
        return Err(format!(
            "a taskboard server (pid {pid}) is running on {}; stop it first, or use --force",
            data_dir.display()
        ));
    }
    let moved_aside = if data_dir.exists() {
        let aside = PathBuf::from(format!("{}.before-restore-{}", data_dir.display(), Utc::now().format(STAMP)));
        std::fs::rename(data_dir, &aside).map_err(|e| format!("cannot move {} aside: {e}", data_dir.display()))?;
        Some(aside)
    } else {
        None
    };
    std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut config_copy = None;
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        let target = if let Some(rest) = path.strip_prefix("data/") {
            if rest.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(format!("refusing {path}: not a plain path inside data/"));
            }
            data_dir.join(rest)
        } else if path == "config.yaml" {
            let Some(config) = config_path else { continue };
            let copy = config.with_file_name("config.yaml.from-backup");
            config_copy = Some(copy.clone());
            copy
        } else {
            continue; // MANIFEST.json, .env (restored by hand on purpose)
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let private = target.file_name().is_some_and(|n| n == "credentials.csv");
        crate::store::csv::durable::write_atomic(&target, &bytes, private)
            .map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(Restored { manifest, moved_aside, config_copy })
}

/// The pid of a server holding `data_dir`'s lock, if one does.
fn server_holding(data_dir: &Path) -> Option<String> {
    let path = data_dir.join(".taskboard").join("lock");
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&path).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Some(pid.trim().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(stamp: &str) -> String {
        format!("{PREFIX}{stamp}{SUFFIX}")
    }

    fn policy(last: u32, daily: u32, weekly: u32, monthly: u32) -> Retention {
        Retention { last, daily, weekly, monthly }
    }

    #[test]
    fn the_newest_few_stay_whatever_their_day() {
        let names: Vec<String> =
            ["20261201T100000Z", "20261201T110000Z", "20261201T120000Z", "20261201T130000Z"].map(name).to_vec();
        let keep = kept(&names, policy(3, 1, 0, 0));
        assert_eq!(keep, names[1..].iter().cloned().collect(), "the three newest, not only the day's newest");
    }

    #[test]
    fn grandfather_father_son_keeps_one_per_day_week_and_month() {
        // Two a day at 02:00 and 14:00 for 100 days back from 2026-11-22.
        let end = NaiveDateTime::parse_from_str("20261122T140000Z", STAMP).unwrap().and_utc();
        let mut names = Vec::new();
        for d in 0..100 {
            for h in [0, 12] {
                names.push(name(
                    &(end - chrono::Duration::days(d) - chrono::Duration::hours(h)).format(STAMP).to_string(),
                ));
            }
        }
        let keep = kept(&names, policy(0, 7, 4, 12));
        let mut expected: BTreeSet<String> = (16..=22).map(|d| name(&format!("202611{d}T140000Z"))).collect();
        // ISO weeks 46, 45, 44 (week 47 is Nov 16-22, kept already by day).
        expected.extend(["20261115T140000Z", "20261108T140000Z", "20261101T140000Z"].map(name));
        // Months: November is kept already; the 100 days reach back to August 14.
        expected.extend(["20261031T140000Z", "20260930T140000Z", "20260831T140000Z"].map(name));
        assert_eq!(keep, expected);
    }

    #[test]
    fn a_manual_backup_minutes_after_the_scheduled_one_removes_neither() {
        let scheduled = format!("{PREFIX}20261122T020000Z{SCHEDULED}{SUFFIX}");
        let manual = name("20261122T020500Z");
        let older = name("20261122T010000Z");
        let names = vec![older.clone(), scheduled.clone(), manual.clone()];
        let keep = kept(&names, policy(0, 1, 0, 0));
        assert!(keep.contains(&scheduled) && keep.contains(&manual), "{keep:?}");
        assert!(!keep.contains(&older), "{keep:?}");
        assert_eq!(kind_of(&scheduled), BackupKind::Scheduled);
        assert_eq!(created_at(&scheduled), created_at(&name("20261122T020000Z")));
    }

    #[test]
    fn two_backups_in_one_second_get_two_names_and_both_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let now = NaiveDateTime::parse_from_str("20261201T120000Z", STAMP).unwrap().and_utc();
        let entry = |text: &str| {
            vec![Entry::Bytes { path: "data/a.csv".into(), bytes: text.as_bytes().to_vec(), private: false }]
        };
        let first = write_archive(entry("one"), dir.path(), 1, now, BackupKind::Manual).unwrap();
        let second = write_archive(entry("two"), dir.path(), 2, now, BackupKind::Manual).unwrap();
        let scheduled = write_archive(entry("three"), dir.path(), 3, now, BackupKind::Scheduled).unwrap();
        assert_ne!(first, second);
        assert_eq!(verify(&first).unwrap().last_event_id, 1, "the first was not replaced");
        assert_eq!(verify(&second).unwrap().last_event_id, 2);
        let second_name = second.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(second_name, name("20261201T120000Z-2"));
        assert_eq!(created_at(&second_name), Some(now));
        let scheduled_name = scheduled.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(kind_of(&scheduled_name), BackupKind::Scheduled);
        assert_eq!(created_at(&scheduled_name), Some(now));
        // Retention keeping one a day keeps the later of the same second.
        let names = vec![name("20261201T120000Z"), second_name.clone()];
        assert_eq!(kept(&names, policy(0, 1, 0, 0)), [second_name].into());
    }
}
