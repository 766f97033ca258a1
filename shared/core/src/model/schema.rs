//! What a source file or a stored dataset holds: groups, dimensions, variables.

use serde::{Deserialize, Serialize};

use super::{Attributes, DataType};

/// A named dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// Dimension name (unique within the group that declares it).
    pub name: String,
    /// Current length.
    pub len: u64,
    /// Whether the source declared it unlimited (the record dimension).
    pub unlimited: bool,
}

/// A group: the root (`""`) or a nested group such as `image1/calibration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSchema {
    /// Slash-separated path without leading slash; `""` for the root.
    pub path: String,
    /// Group attributes (the root group's are the global attributes).
    pub attrs: Attributes,
}

/// One variable of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableSchema {
    /// Slash-separated path: the name for root variables, `group/name` otherwise.
    pub path: String,
    /// Dimension names, outermost first.
    pub dims: Vec<String>,
    /// Length along each dimension.
    pub shape: Vec<u64>,
    /// Element type as stored.
    pub dtype: DataType,
    /// Attributes as the source declared them (storage-only attributes removed).
    pub attrs: Attributes,
    /// The source's storage chunking, when it has one (helps read whole source
    /// chunks once during ingest).
    pub source_chunks: Option<Vec<u64>>,
}

impl VariableSchema {
    /// The variable's own name (last path segment).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The path of the group holding the variable (`""` for the root).
    pub fn group(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// Number of elements (saturating: a header may declare more than a `u64`
    /// holds, and is then refused by the limits, not wrapped around).
    pub fn len(&self) -> u64 {
        self.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// Whether the variable holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Uncompressed size in bytes (strings counted as 8 bytes each, a rough guide).
    pub fn nbytes(&self) -> u64 {
        self.len().saturating_mul(self.dtype.size().unwrap_or(8) as u64)
    }
}

/// Everything a decoder found in a source: the groups, the variables it can
/// deliver, and what it had to leave out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DatasetSchema {
    /// Groups, the root first.
    pub groups: Vec<GroupSchema>,
    /// Dimensions of the root group and of nested groups (names are unique here:
    /// nested ones are prefixed by their group path).
    pub dims: Vec<Dimension>,
    /// Variables, in source order.
    pub variables: Vec<VariableSchema>,
    /// What was skipped or changed, in words a user can act on.
    pub warnings: Vec<String>,
}

impl DatasetSchema {
    /// The variable at `path`.
    pub fn variable(&self, path: &str) -> Option<&VariableSchema> {
        self.variables.iter().find(|v| v.path == path)
    }

    /// The root group's attributes.
    pub fn global_attrs(&self) -> Option<&Attributes> {
        self.groups.iter().find(|g| g.path.is_empty()).map(|g| &g.attrs)
    }

    /// Variables in the group at `group` (`""` for the root).
    pub fn variables_in<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a VariableSchema> {
        self.variables.iter().filter(move |v| v.group() == group)
    }

    /// Total uncompressed bytes of all variables.
    pub fn nbytes(&self) -> u64 {
        self.variables.iter().map(VariableSchema::nbytes).sum()
    }
}
