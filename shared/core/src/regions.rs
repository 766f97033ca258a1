//! Regions: river basins, countries, any set of polygons, and the exact
//! area-weighted share of every grid cell in each of them.
//!
//! - [`set`]: region sets as users register them, checked once (ids,
//!   closed rings, antimeridian, repair of invalid polygons).
//! - [`sphere`]: areas on the sphere (radius [`EARTH_RADIUS_M`]) in closed form.
//! - [`cells`]: a grid's cells as areas (bounds, vertices or midpoints).
//! - [`mod@weights`]: the cells each region covers, with area and fraction.
//!
//! ```
//! use hub_core::query::{Axis1d, HorizontalGrid};
//! use hub_core::regions::{CellBounds, CellGrid, FeatureInput, RegionSet, RegionSetId, weights};
//!
//! // A 1° grid and a square covering a quarter of four cells.
//! let axis = |start: f64, n: usize| Axis1d::new((0..n).map(|k| start + k as f64).collect());
//! let grid = HorizontalGrid::lon_lat(axis(0.5, 10).unwrap(), axis(0.5, 10).unwrap());
//! let cells = CellGrid::new(&grid, &CellBounds::Midpoints)?;
//! let ring = vec![[1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5], [1.5, 1.5]];
//! let set = RegionSet::build(
//!     RegionSetId::new("demo")?,
//!     vec![FeatureInput { number: 1, id: Some("sq".into()), name: None, polygons: vec![vec![ring]] }],
//!     None,
//! )?;
//! let w = weights(&cells, &set.regions[0].shape);
//! assert_eq!(w.cells.len(), 4);
//! assert!(w.cells.iter().all(|c| (c.fraction - 0.25).abs() < 0.01));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod antimeridian;
pub mod cells;
pub mod geojson;
pub mod series;
pub mod set;
pub mod sphere;
pub mod stored_weights;
pub mod weights;

pub use cells::{CellBounds, CellGrid, CellsError};
pub use set::{FeatureInput, Region, RegionSet, RegionSetError, RegionSetId};
pub use sphere::EARTH_RADIUS_M;
pub use weights::{CellWeight, RegionWeights, region_weights, weights};
