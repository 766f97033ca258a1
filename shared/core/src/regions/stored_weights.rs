//! The weights of an attached set on a dataset's grid, kept in the dataset's
//! repository beside its region series (`regions/<set>/cell_*`, one entry
//! per (region, cell), what xagg exports). They are written in the commit
//! that first needs them and read back by every later ingest and by the
//! serving side, so a set's weights are computed once per (grid, set
//! version): each entry records the set's version and a fingerprint of the
//! grid's cells, and anything else is recomputed.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{CellBounds, CellWeight, RegionWeights};
use crate::cf::FillValue;
use crate::derived::DerivationError;
use crate::model::{ArrayLayout, AttrValue, Attributes, Block, BlockData, Compression, DataType, Hyperslab, attr_text};
use crate::ports::{ArrayInfo, ArraySpec, DatasetReader, RepoError, Transaction};
use crate::query::{Cell, HorizontalGrid};

/// The attribute naming the grid the weights were computed on.
pub const GRID_ATTR: &str = "hub_grid_fingerprint";

/// Entries per chunk of the weight arrays.
const CHUNK: u64 = 1 << 20;

/// The arrays, with what they hold: (name, type, long name, units).
const COLUMNS: &[(&str, DataType, &str, Option<&str>)] = &[
    ("cell_region", DataType::Int32, "index of the region (along region)", None),
    ("cell_y", DataType::Int32, "row of the cell in the grid", None),
    ("cell_x", DataType::Int32, "column of the cell in the grid", None),
    ("cell_area_m2", DataType::Float64, "area of the part of the cell inside the region, on the sphere", Some("m2")),
    ("cell_fraction", DataType::Float64, "share of the cell inside the region", Some("1")),
];

/// What identifies a grid's cells, stable across builds and machines: its
/// shape, its centres (the first row and column of rectangular grids, every
/// cell of curvilinear ones) and its bounds.
pub fn grid_fingerprint(grid: &HorizontalGrid, bounds: &CellBounds) -> String {
    let mut h = Sha256::new();
    let (ny, nx) = grid.shape();
    h.update((ny as u64).to_le_bytes());
    h.update((nx as u64).to_le_bytes());
    let all = matches!(grid, HorizontalGrid::Curvilinear(_));
    for j in 0..ny {
        for i in 0..nx {
            if j > 0 && i > 0 && !all {
                break;
            }
            if let Some(p) = grid.center(Cell { j, i }) {
                h.update(p.lon.to_le_bytes());
                h.update(p.lat.to_le_bytes());
            }
        }
    }
    let mut pairs = |v: &[[f64; 2]]| v.iter().flatten().for_each(|x| h.update(x.to_le_bytes()));
    match bounds {
        CellBounds::Midpoints => {}
        CellBounds::Axes { x, y } => {
            pairs(x);
            pairs(y);
        }
        CellBounds::Vertices { lon, lat } => {
            for q in lon.iter().chain(lat) {
                q.iter().for_each(|x| h.update(x.to_le_bytes()));
            }
        }
    }
    hex::encode(&h.finalize()[..12])
}

fn path(group: &str, name: &str) -> String {
    format!("{group}/{name}")
}

/// The stored weights of the `regions` regions of the set in `group`, when
/// they were computed at `version` on the grid `fingerprint`.
pub async fn read(
    reader: &dyn DatasetReader,
    arrays: &[ArrayInfo],
    group: &str,
    (version, fingerprint): (&str, &str),
    regions: usize,
) -> Result<Option<Vec<RegionWeights>>, RepoError> {
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for (name, dtype, _, _) in COLUMNS {
        let p = path(group, name);
        let Some(a) = arrays.iter().find(|a| a.path == p) else { return Ok(None) };
        let current = attr_text(&a.attrs, super::series::VERSION_ATTR) == Some(version)
            && attr_text(&a.attrs, GRID_ATTR) == Some(fingerprint);
        if !current || a.dtype != *dtype || a.shape.len() != 1 {
            return Ok(None);
        }
        match reader.read(&p, &Hyperslab::full(&a.shape)).await? {
            BlockData::Numeric(bytes) => columns.push(a.dtype.to_f64_vec(&bytes)),
            BlockData::Strings(_) => return Ok(None),
        }
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) {
        return Ok(None);
    }
    let mut out = vec![RegionWeights::default(); regions];
    let [region, ys, xs, areas, fractions] = &columns[..] else { return Ok(None) };
    for k in 0..n {
        let (r, j, i) = (region[k], ys[k], xs[k]);
        let Some(w) = usize::try_from(r as i64).ok().and_then(|r| out.get_mut(r)) else { return Ok(None) };
        let (Ok(j), Ok(i)) = (usize::try_from(j as i64), usize::try_from(i as i64)) else { return Ok(None) };
        w.cells.push(CellWeight { j, i, area_m2: areas[k], fraction: fractions[k] });
    }
    Ok(Some(out))
}

/// Writes the weights of every region (in the set's order) into `group`.
pub async fn write(
    tx: &dyn Transaction,
    group: &str,
    (version, fingerprint): (&str, &str),
    weights: &[RegionWeights],
) -> Result<(), DerivationError> {
    let mut region = Vec::new();
    let (mut ys, mut xs, mut areas, mut fractions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, w) in weights.iter().enumerate() {
        for c in &w.cells {
            region.push(i32::try_from(k).map_err(|_| DerivationError::Invalid("too many regions".into()))?);
            ys.push(i32::try_from(c.j).map_err(|_| DerivationError::Invalid("a grid of over 2³¹ rows".into()))?);
            xs.push(i32::try_from(c.i).map_err(|_| DerivationError::Invalid("a grid of over 2³¹ columns".into()))?);
            areas.push(c.area_m2);
            fractions.push(c.fraction);
        }
    }
    let n = region.len() as u64;
    let ints = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let floats = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let data = [ints(&region), ints(&ys), ints(&xs), floats(&areas), floats(&fractions)];
    for ((name, dtype, long_name, units), bytes) in COLUMNS.iter().zip(data) {
        let p = path(group, name);
        let mut attrs = Attributes::from_iter([
            ("long_name".to_string(), AttrValue::text(*long_name)),
            (super::series::VERSION_ATTR.to_string(), AttrValue::text(version)),
            (GRID_ATTR.to_string(), AttrValue::text(fingerprint)),
        ]);
        if let Some(u) = units {
            attrs.insert("units".to_string(), AttrValue::text(*u));
        }
        // Replaced whole (metadata and entries): a new version or grid changes every entry.
        tx.create_array(&ArraySpec {
            path: p.clone(),
            dims: vec!["cell".into()],
            shape: vec![n],
            dtype: *dtype,
            fill_value: if dtype.is_integer() { FillValue::Int(-1) } else { FillValue::Float(f64::NAN) },
            layout: ArrayLayout {
                chunks: vec![n.clamp(1, CHUNK)],
                shard: None,
                compression: Compression::Zstd { level: 3 },
            },
            attrs,
        })
        .await?;
        if n > 0 {
            tx.write_block(&p, Arc::new(Block { region: Hyperslab::full(&[n]), data: BlockData::Numeric(bytes) }))
                .await?;
        }
    }
    Ok(())
}
