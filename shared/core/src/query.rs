//! Queries on stored datasets, as OGC API - EDR asks them: geometries and
//! selections as written in requests, grids that map positions to cells, the
//! dataset view queries run against, and read plans with their budget.
//! Pure domain: reading goes through the repository port.

pub mod geometry;
pub mod grid;
pub mod plan;
pub mod rotated_pole;
pub mod select;
pub mod view;

pub use geometry::{Geometry, LonLat, Vertex, WktError};
pub use grid::{Axis1d, Cell, HorizontalGrid, OutsideGrid, Projector, Window};
pub use plan::{Budget, Cost, OverBudget, ReadPlan};
pub use rotated_pole::RotatedPole;
pub use select::{AxisSelection, SelectionError, index_runs, parse_datetime, parse_numbers, same_number, select};
pub use view::{AxisValues, DatasetView, DimInfo, GridInfo, NoProjections, Parameter, ProjectorFactory};
