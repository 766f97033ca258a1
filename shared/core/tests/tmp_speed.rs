use hub_core::query::{Axis1d, HorizontalGrid};
use hub_core::regions::{geojson, CellBounds, CellGrid, RegionSet, RegionSetId, region_weights, weights};
#[test]
fn speed() {
    let text = std::fs::read_to_string("/work/shared/data/polygons/ne_110m_admin0_countries.geojson").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t = std::time::Instant::now();
    let f = geojson::features(&doc, geojson::Fields { id: Some("name"), name: None }).unwrap();
    let set = RegionSet::build(RegionSetId::new("countries").unwrap(), f, None).unwrap();
    println!("build {:?} warnings {:?}", t.elapsed(), set.warnings);
    let axis = |s: f64, st: f64, n: usize| Axis1d::new((0..n).map(|k| s + st * k as f64).collect()).unwrap();
    let g = HorizontalGrid::lon_lat(axis(0.25, 0.5, 720), axis(-89.75, 0.5, 360));
    let cells = CellGrid::new(&g, &CellBounds::Midpoints).unwrap();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let w = region_weights(&cells, &set.regions);
        let n: usize = w.iter().map(|w| w.cells.len()).sum();
        println!("weights {:?} cells {n}", t.elapsed());
    }
    let w = region_weights(&cells, &set.regions);
    let mut worst: f64 = 0.0;
    for (r, w) in set.regions.iter().zip(&w) { let rel = (w.total_area_m2() / 1e6 - r.area_km2).abs() / r.area_km2; worst = worst.max(rel); if rel > 1e-6 { println!("{} {} {}", r.id, w.total_area_m2()/1e6, r.area_km2); } }
    println!("worst {worst:e}");
    let text = std::fs::read_to_string("/work/shared/data/polygons/hydrobasins_mississippi.geojson").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = geojson::features(&doc, geojson::Fields { id: Some("HYBAS_ID"), name: None }).unwrap();
    let t = std::time::Instant::now();
    let set = RegionSet::build(RegionSetId::new("m").unwrap(), f, None).unwrap();
    println!("miss build {:?} {}", t.elapsed(), set.regions[0].area_km2);
    let t = std::time::Instant::now();
    let w = weights(&cells, &set.regions[0].shape);
    println!("miss weights {:?} {} {}", t.elapsed(), w.cells.len(), w.total_area_m2()/1e6);
}
