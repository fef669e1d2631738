//! Documents: an uploaded file plus its metadata row. The file is checked and
//! fingerprinted here, written by the store into `data/docs/{id}/{filename}`, and its
//! metadata that the upload fixes (name, type, size, hash) cannot be edited later.

use sha2::{Digest, Sha256};

use crate::auth::policy::Action;
use crate::domain::{FieldError, TableKind};
use crate::store::{Committed, Fields, Op, StoreError};

use super::access::{self, Principal, ServiceError};
use super::records::RecordService;

/// An upload as a source received it.
pub struct Upload {
    pub filename: String,
    pub title: Option<String>,
    pub task_id: Option<String>,
    pub content_type: Option<String>,
    pub content: bytes::Bytes,
}

impl RecordService {
    /// Stores an upload as a new document of `p`'s.
    pub async fn upload(&self, p: &Principal, upload: Upload) -> Result<Committed, ServiceError> {
        let planned: Fields = [("task_id".to_string(), upload.task_id.clone().unwrap_or_default())].into();
        access::check_write(self, p, TableKind::Docs, Action::Create, None, &planned)?;
        let ctx = p.context();
        let filename = check_filename(&upload.filename).map_err(|e| StoreError::Invalid(vec![e]))?;
        let content_type = upload.content_type.as_deref().and_then(clean_content_type);
        let sha256 = crate::domain::values::hex(&Sha256::digest(&upload.content));
        let mut fields = Fields::new();
        fields
            .insert("title".into(), upload.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| filename.clone()));
        fields.insert("filename".into(), filename);
        // The same rules as every other door (a title or file name a spreadsheet would
        // run as a formula is refused), before anything is stored.
        let typed: Fields =
            ["title", "filename"].iter().filter_map(|k| fields.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
        super::records::check_input(TableKind::Docs, &typed, None)?;
        fields.insert("content_type".into(), content_type.unwrap_or_else(|| "application/octet-stream".into()));
        fields.insert("size_bytes".into(), upload.content.len().to_string());
        fields.insert("sha256".into(), sha256);
        fields.insert("task_id".into(), upload.task_id.unwrap_or_default());
        if let Some(actor) = ctx.actor {
            fields.insert("uploaded_by".into(), actor.to_string());
        }
        let staged = self.store().stage_blob(upload.content).await?;
        let op = Op::Create { table: TableKind::Docs, fields, attachment: Some(staged) };
        Ok(self.store().commit(op, ctx).await?)
    }

    /// A document's metadata and content, if `p` may read it.
    pub async fn doc_content(&self, p: &Principal, id: u64) -> Result<(Fields, Vec<u8>), ServiceError> {
        let (fields, _) = self.get(TableKind::Docs, id)?;
        access::check_read(self, p, TableKind::Docs, id, &fields)?;
        let filename = fields.get("filename").cloned().unwrap_or_default();
        let content = self.store().read_blob(id, &filename).await?;
        Ok((fields, content))
    }
}

/// A file name that is safe as the last part of a path: no folders, no `..`, no
/// control characters, not hidden, at most 255 bytes. Refused, not rewritten, so the
/// client knows what happened.
pub fn check_filename(name: &str) -> Result<String, FieldError> {
    let refuse = |why: &str| Err(FieldError::new("filename", format!("{name:?} {why}")));
    let name = name.trim();
    if name.is_empty() {
        return refuse("is empty; a file name is required");
    }
    if name.contains(['/', '\\']) || name == ".." || name == "." {
        return refuse("is a path; send the file's name alone (path traversal is refused)");
    }
    if name.starts_with('.') {
        return refuse("starts with a dot; hidden files are refused");
    }
    if name.chars().any(|c| c.is_control()) {
        return refuse("contains control characters");
    }
    if name.len() > 255 {
        return refuse("is longer than 255 bytes");
    }
    Ok(name.to_string())
}

/// A media type fit to be sent back in a header (`type/subtype`, optional parameters);
/// anything else becomes `application/octet-stream`.
fn clean_content_type(value: &str) -> Option<String> {
    let value = value.trim();
    let essence = value.split(';').next().unwrap_or("").trim();
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    let ok = essence.split_once('/').is_some_and(|(t, s)| token(t) && token(s))
        && value.bytes().all(|b| (0x20..0x7f).contains(&b));
    ok.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_with_paths_are_refused() {
        for bad in ["../../etc/passwd", "a/b.txt", "..\\x", "..", ".env", "", "a\nb"] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_filename(" Отчёт Q4.pdf ").unwrap(), "Отчёт Q4.pdf");
    }

    #[test]
    fn content_types_that_could_break_a_header_are_dropped() {
        assert_eq!(clean_content_type("text/plain; charset=utf-8").as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(clean_content_type("text/html\r\nX-Evil: 1"), None);
        assert_eq!(clean_content_type("nonsense"), None);
    }
}
