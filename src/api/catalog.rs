//! The catalog of mounted operations. Each route builder records its operation here in
//! the same call that builds the filter, so the OpenAPI document (`openapi.rs`) and the
//! documentation page list exactly what the server answers.

use crate::domain::TableKind;

/// What an operation takes and gives, for the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A page of records of the table.
    List,
    Create,
    Get,
    Update,
    Replace,
    Delete,
    /// Something else: a JSON body in (maybe) and the named response out.
    Other {
        body: Option<&'static str>,
        response: &'static str,
    },
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    /// OpenAPI style: `/api/tasks/{id}`.
    pub path: String,
    pub summary: String,
    pub tag: &'static str,
    pub table: Option<TableKind>,
    pub shape: Shape,
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    pub operations: Vec<Operation>,
}

impl Catalog {
    /// The methods mounted on `path` (`/api/tasks/42` matches `/api/tasks/{id}`), for
    /// the `Allow` header of a 405.
    pub fn methods_of(&self, path: &str) -> Vec<&'static str> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut methods: Vec<&'static str> = self
            .operations
            .iter()
            .filter(|op| {
                let pattern: Vec<&str> = op.path.trim_matches('/').split('/').collect();
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| p == s || matches_parameter(p, s))
            })
            .map(|op| op.method)
            .collect();
        methods.sort_unstable();
        methods.dedup();
        methods
    }

    pub fn add(
        &mut self,
        method: &'static str,
        path: impl Into<String>,
        tag: &'static str,
        summary: impl Into<String>,
        table: Option<TableKind>,
        shape: Shape,
    ) {
        self.operations.push(Operation { method, path: path.into(), summary: summary.into(), tag, table, shape });
    }
}

/// Whether segment `s` fills the parameter segment `p`: `{id}` takes any non-empty
/// segment, `{token}.ics` one ending in `.ics` with something before it.
fn matches_parameter(p: &str, s: &str) -> bool {
    let Some(rest) = p.strip_prefix('{') else { return false };
    let suffix = rest.split_once('}').map_or("", |(_, after)| after);
    s.len() > suffix.len() && s.ends_with(suffix)
}
