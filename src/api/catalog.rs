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
