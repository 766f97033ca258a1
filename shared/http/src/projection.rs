//! CF grid mappings as projectors: rotated poles by their spherical rotation
//! ([`RotatedPole`], exact, in the core), the other mappings through PROJ
//! strings evaluated by `proj4rs` (pure Rust: the serve binaries link no C
//! projection library).

use std::sync::Arc;

use hub_core::model::{Attributes, attr_text};
use hub_core::query::{LonLat, ProjectionError, Projector, ProjectorFactory, RotatedPole};
use proj4rs::proj::Proj;

/// Projectors from CF `grid_mapping` attributes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Proj4Projections;

impl ProjectorFactory for Proj4Projections {
    fn projector(&self, gm: &Attributes) -> Result<Arc<dyn Projector>, ProjectionError> {
        let name = attr_text(gm, "grid_mapping_name").unwrap_or("");
        let num = |k: &str| gm.get(k).and_then(|v| v.as_f64());
        if name == "rotated_latitude_longitude" {
            let plat = num("grid_north_pole_latitude")
                .ok_or_else(|| ProjectionError::new("grid_north_pole_latitude missing"))?;
            let plon = num("grid_north_pole_longitude")
                .ok_or_else(|| ProjectionError::new("grid_north_pole_longitude missing"))?;
            let nplon = num("north_pole_grid_longitude").unwrap_or(0.0);
            return Ok(Arc::new(RotatedPole { pole_lat: plat, pole_lon: plon, north_pole_grid_lon: nplon }));
        }
        if let Some(p4) = attr_text(gm, "proj4").or_else(|| attr_text(gm, "proj4_params")) {
            return ProjString::new(p4).map(|p| Arc::new(p) as Arc<dyn Projector>);
        }
        let earth = {
            let a = num("semi_major_axis").or_else(|| num("earth_radius"));
            let b = num("semi_minor_axis");
            let rf = num("inverse_flattening");
            match (a, b, rf) {
                (Some(a), Some(b), _) => format!("+a={a} +b={b}"),
                (Some(a), None, Some(rf)) if rf > 0.0 => format!("+a={a} +rf={rf}"),
                (Some(a), _, _) => format!("+a={a} +b={a}"),
                _ => "+ellps=WGS84".to_string(),
            }
        };
        let fe = num("false_easting").unwrap_or(0.0);
        let fn_ = num("false_northing").unwrap_or(0.0);
        let lon0 = num("longitude_of_central_meridian")
            .or_else(|| num("longitude_of_projection_origin"))
            .or_else(|| num("straight_vertical_longitude_from_pole"))
            .unwrap_or(0.0);
        let lat0 = num("latitude_of_projection_origin").unwrap_or(0.0);
        let def = match name {
            "lambert_conformal_conic" => {
                let sp = gm.get("standard_parallel").and_then(|v| v.as_f64s()).unwrap_or_default();
                let (s1, s2) = (sp.first().copied().unwrap_or(lat0), sp.get(1).or(sp.first()).copied().unwrap_or(lat0));
                format!("+proj=lcc +lat_1={s1} +lat_2={s2} +lat_0={lat0} +lon_0={lon0}")
            }
            "polar_stereographic" => {
                let lat_ts = num("standard_parallel").unwrap_or(lat0);
                let k = num("scale_factor_at_projection_origin").map(|k| format!(" +k_0={k}")).unwrap_or_default();
                format!("+proj=stere +lat_0={lat0} +lat_ts={lat_ts} +lon_0={lon0}{k}")
            }
            "transverse_mercator" => {
                let k = num("scale_factor_at_central_meridian").unwrap_or(1.0);
                format!("+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k_0={k}")
            }
            "lambert_azimuthal_equal_area" => format!("+proj=laea +lat_0={lat0} +lon_0={lon0}"),
            "mercator" => {
                let lat_ts = num("standard_parallel").unwrap_or(0.0);
                format!("+proj=merc +lon_0={lon0} +lat_ts={lat_ts}")
            }
            "" => return Err(ProjectionError::new("no grid_mapping_name")),
            other => return Err(ProjectionError::new(format!("grid mapping {other:?} is not supported yet"))),
        };
        ProjString::new(&format!("{def} +x_0={fe} +y_0={fn_} {earth} +units=m"))
            .map(|p| Arc::new(p) as Arc<dyn Projector>)
    }
}

/// A projection given as a PROJ string.
#[derive(Debug)]
pub struct ProjString {
    proj: Proj,
    geo: Proj,
    def: String,
}

impl ProjString {
    /// Parses the definition.
    pub fn new(def: &str) -> Result<Self, ProjectionError> {
        let invalid =
            |e: proj4rs::errors::Error| ProjectionError { message: format!("{def:?}"), source: Some(Box::new(e)) };
        let proj = Proj::from_proj_string(def).map_err(invalid)?;
        let geo = Proj::from_proj_string("+proj=longlat +ellps=WGS84").map_err(invalid)?;
        Ok(Self { proj, geo, def: def.to_string() })
    }

    /// The PROJ string.
    pub fn definition(&self) -> &str {
        &self.def
    }
}

impl Projector for ProjString {
    fn forward(&self, p: LonLat) -> Option<(f64, f64)> {
        let mut pt = (p.lon.to_radians(), p.lat.to_radians(), 0.0);
        proj4rs::transform::transform(&self.geo, &self.proj, &mut pt).ok()?;
        (pt.0.is_finite() && pt.1.is_finite()).then_some((pt.0, pt.1))
    }

    fn inverse(&self, x: f64, y: f64) -> Option<LonLat> {
        let mut pt = (x, y, 0.0);
        proj4rs::transform::transform(&self.proj, &self.geo, &mut pt).ok()?;
        let p = LonLat { lon: pt.0.to_degrees(), lat: pt.1.to_degrees() };
        (p.lon.is_finite() && p.lat.is_finite()).then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambert_conformal_from_cf_attributes() {
        let mut gm = Attributes::new();
        gm.insert("grid_mapping_name".into(), hub_core::model::AttrValue::text("lambert_conformal_conic"));
        gm.insert("standard_parallel".into(), hub_core::model::AttrValue::f64(25.0));
        gm.insert("longitude_of_central_meridian".into(), hub_core::model::AttrValue::f64(265.0));
        gm.insert("latitude_of_projection_origin".into(), hub_core::model::AttrValue::f64(25.0));
        let p = Proj4Projections.projector(&gm).unwrap_or_else(|e| panic!("{e}"));
        let (x, y) = p.forward(LonLat { lon: -95.0, lat: 25.0 }).unwrap_or((f64::NAN, f64::NAN));
        assert!(x.abs() < 1e-3 && y.abs() < 1e-3, "origin maps to 0,0: {x},{y}");
        let back = p.inverse(500_000.0, 300_000.0).and_then(|q| p.forward(q)).unwrap_or((f64::NAN, f64::NAN));
        assert!((back.0 - 500_000.0).abs() < 1e-3 && (back.1 - 300_000.0).abs() < 1e-3, "{back:?}");
        let mut bad = Attributes::new();
        bad.insert("grid_mapping_name".into(), hub_core::model::AttrValue::text("vertical_perspective"));
        assert!(Proj4Projections.projector(&bad).is_err());
    }
}
