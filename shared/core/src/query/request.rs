//! A data query as the hub executes it: typed, parsed once from the request
//! by the transport (the HTTP adapter), so nothing past the adapter sees a
//! query string. Times are already instants in the dataset's calendar,
//! numbers are numbers, geometries are in lon/lat.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::geometry::{LonLat, Vertex};
use super::select::AxisSelection;
use crate::cf::CfTime;
use crate::regions::RegionWeights;

/// How a position takes its value from the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The cell whose centre is nearest.
    #[default]
    Nearest,
    /// Bilinear, from the four surrounding cell centres.
    Linear,
}

/// Where a query asks for values: the EDR query types.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// `position`: one or more points.
    Position {
        /// The points.
        points: Vec<LonLat>,
        /// Nearest cell or bilinear.
        method: Interpolation,
    },
    /// `radius`: the cells within `km` of a point.
    Radius {
        /// The centre.
        center: LonLat,
        /// The radius in kilometres.
        km: f64,
    },
    /// `area`: the cells inside polygons (outer rings with holes).
    Area {
        /// Polygons, each a list of rings.
        polygons: Vec<Vec<Vec<LonLat>>>,
        /// Their bounding box, `[west, south, east, north]`.
        bbox: [f64; 4],
    },
    /// `cube`: the cells inside a lon/lat box.
    Cube {
        /// `[west, south, east, north]`.
        bbox: [f64; 4],
    },
    /// A region's cells with their exact weights (`locations/{set}:{id}`,
    /// and `area` with a `statistic`): a window of the cells it covers.
    Region {
        /// The cells and their shares.
        weights: Arc<RegionWeights>,
    },
    /// `trajectory`: values along a path's vertices; vertices with M carry
    /// their own time (seconds since 1970-01-01 in the dataset's calendar).
    Trajectory {
        /// The vertices.
        vertices: Vec<Vertex>,
    },
}

impl Place {
    /// The EDR query type's name.
    pub fn query_type(&self) -> &'static str {
        match self {
            Self::Position { .. } => "position",
            Self::Radius { .. } => "radius",
            Self::Area { .. } => "area",
            Self::Cube { .. } => "cube",
            Self::Trajectory { .. } => "trajectory",
            Self::Region { .. } => "locations",
        }
    }
}

/// A selection along a named dimension other than time and z (ensemble
/// member, lead time, a second time axis), typed after the dimension's values.
#[derive(Debug, Clone, PartialEq)]
pub enum DimSelection {
    /// A dimension of numbers.
    Numbers(AxisSelection<f64>),
    /// A dimension of instants.
    Times(AxisSelection<CfTime>),
}

/// What a query selects besides the place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selections {
    /// `parameter-name`: `None` for every parameter of the first one's shape.
    pub parameters: Option<Vec<String>>,
    /// `datetime`, in the dataset's calendar.
    pub datetime: Option<AxisSelection<CfTime>>,
    /// `z`.
    pub z: Option<AxisSelection<f64>>,
    /// Other dimensions by name.
    pub dims: BTreeMap<String, DimSelection>,
}

/// Which forecast run a query reads, when the collection holds runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Instance {
    /// One run: `datetime` selects valid times within it.
    Run(CfTime),
    /// The best estimate: per valid time, the newest run that covers it.
    Best,
}

/// A data query, ready to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EdrQuery {
    /// Where.
    pub place: Place,
    /// What and when.
    pub selections: Selections,
    /// The forecast run, for instance queries.
    pub instance: Option<Instance>,
}
