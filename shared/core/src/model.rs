//! The domain vocabulary: identifiers, element types, attributes, schemas and
//! regions. Plain data, no I/O.

mod attrs;
mod dtype;
mod ids;
mod region;
mod schema;

pub use attrs::{AttrValue, Attributes, attr_text, float_json};
pub use dtype::DataType;
pub use ids::{DatasetId, InvalidId};
pub use region::{Block, BlockData, Region, copy_subregion, copy_subregion_into, paste_subregion, runs};
pub use schema::{DatasetSchema, Dimension, GroupSchema, VariableSchema};
