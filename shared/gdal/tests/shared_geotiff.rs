//! Every GeoTIFF in `$HUB_TEST_DATA/geotiff` through the decoder: the schema
//! (bands, coordinates from the geotransform, the CRS as a grid mapping,
//! calibration from the band or from `GDAL_METADATA`) and every value equal
//! to what GDAL reads from the band.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use hub_core::model::{BlockData, Hyperslab, attr_text};
use hub_core::ports::SourceDecoder;
use hub_gdal::GdalDecoder;

#[test]
fn every_shared_geotiff_decodes_to_the_values_gdal_reads() {
    let files = hub_testkit::shared_files("geotiff");
    if files.is_empty() {
        return;
    }
    for path in files {
        let head = std::fs::read(&path).unwrap()[..8].to_vec();
        assert!(GdalDecoder.can_decode(&head), "{}", path.display());
        let mut src = GdalDecoder.open(&path).unwrap();
        let schema = src.schema().clone();
        let gdal = gdal::Dataset::open(&path).unwrap();
        let (nx, ny) = gdal.raster_size();
        let gt = gdal.geo_transform().unwrap();
        let crs = schema.variable("spatial_ref").expect("grid mapping variable");
        assert!(
            attr_text(&crs.attrs, "crs_wkt")
                .is_some_and(|w| ["PROJCS", "GEOGCS", "PROJCRS", "GEOGCRS"].iter().any(|k| w.starts_with(k)))
        );
        let x = schema.variables.iter().find(|v| v.path == "x").unwrap();
        let BlockData::Numeric(xb) = src.read("x", &Hyperslab::full(&x.shape)).unwrap() else { panic!() };
        let x0 = f64::from_le_bytes(xb[..8].try_into().unwrap());
        assert!((x0 - (gt[0] + gt[1] / 2.0)).abs() < 1e-6, "first x centre");
        let bands: Vec<_> = schema.variables.iter().filter(|v| v.path.starts_with("band")).cloned().collect();
        assert_eq!(bands.len(), gdal.raster_count(), "{}", path.display());
        for (k, var) in bands.iter().enumerate() {
            assert_eq!(var.shape, vec![ny as u64, nx as u64]);
            assert_eq!(attr_text(&var.attrs, "grid_mapping"), Some("spatial_ref"));
            // A window in the middle, against GDAL's own read of the band as bytes.
            let (h, w) = (ny.min(300), nx.min(400));
            let (y0, x0) = ((ny - h) / 2, (nx - w) / 2);
            let region = Hyperslab { start: vec![y0 as u64, x0 as u64], shape: vec![h as u64, w as u64] };
            let BlockData::Numeric(got) = src.read(&var.path, &region).unwrap() else { panic!() };
            let band = gdal.rasterband(k + 1).unwrap();
            let want: Vec<u8> =
                band.read_as::<u8>((x0 as isize, y0 as isize), (w, h), (w, h), None).unwrap().data().to_vec();
            assert_eq!(got, want, "{} {}", path.display(), var.path);
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("FINUTM") {
            // FMI: calibration only in GDAL_METADATA.
            let b = &bands[0];
            assert_eq!(b.attrs.get("scale_factor").and_then(|v| v.as_f64()), Some(0.5));
            assert_eq!(b.attrs.get("add_offset").and_then(|v| v.as_f64()), Some(-32.0));
            assert_eq!(b.attrs.get("_FillValue").and_then(|v| v.as_f64()), Some(255.0));
            assert_eq!(b.attrs.get("undetect").and_then(|v| v.as_f64()), Some(0.0));
        }
        if name.starts_with("RGB") {
            assert_eq!(bands[0].attrs.get("_FillValue").and_then(|v| v.as_f64()), Some(0.0), "TIFF nodata tag");
        }
    }
}
