//! Queries on stored datasets, as OGC API - EDR asks them: geometries and
//! selections as written in requests, grids that map positions to cells, the
//! dataset view queries run against, and read plans with their budget.
//! Pure domain: reading goes through the repository port.

pub mod catalog;
pub mod ensemble;
pub mod error;
pub mod execute;
pub mod extraction;
pub mod geometry;
pub mod grid;
pub mod layouts;
pub mod picks;
pub mod plan;
mod region_reads;
pub mod regions;
pub mod request;
pub mod rotated_pole;
pub mod select;
pub mod view;

pub use catalog::{Catalog, Opened};
pub use ensemble::{
    ChangeAccumulator, Combined, EnsembleAsk, EnsembleNote, MemberQuery, MemberValues, combine_statistics,
    ensemble_extract, member_budget, run_members,
};
pub use error::QueryError;
pub use execute::{Limits, execute, extract, parameters, select_axes};
pub use extraction::{Category, Extraction, Horizontal, OutAxis, ParamValues, PointPick, TimePick, to_axes_yx};
pub use geometry::{Geometry, LonLat, Vertex, WktError};
pub use grid::{Axis1d, Cell, CellWeights, HorizontalGrid, OutsideGrid, Projector, Window};
pub use layouts::LayoutRead;
pub use plan::{Budget, Cost, OverBudget, ReadPlan};
pub use regions::{RegionCatalog, RegionRequest, SetWeights, adhoc_set, region_statistics};
pub use request::{DimSelection, EdrQuery, Instance, Interpolation, Place, Selections};
pub use rotated_pole::RotatedPole;
pub use select::{AxisSelection, SelectionError, index_runs, parse_datetime, parse_numbers, same_number, select};
pub use view::{
    AxisValues, BoundsVars, DatasetView, DimInfo, GridInfo, NoProjections, Parameter, ProjectionError, ProjectorFactory,
};
