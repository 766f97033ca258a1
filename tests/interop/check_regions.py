"""Region weights and statistics of the hub against exactextract.

For each case the hub's `/locations/{set}:{id}/weights` (every cell's
fraction and area) and `/locations/{set}:{id}?statistic=mean&f=csv` are
compared with an independent reference computed here on the source file,
and the weighted mean of the file's values read by xarray:
- regular lon/lat grids: exactextract's coverage fraction of each cell
  (planar in lon/lat) times the cell's area on the sphere (R = 6,371,007.2 m;
  cells bounded midway between the file's centres, latitudes clipped to ±90);
- rotated-pole grids: the same in the rotated frame, the region taken there
  by PROJ from the file's grid mapping;
- curvilinear grids: shapely's share of each vertex-bounded cell inside the
  region times the cell's exact area on the sphere. Polygons come from the source files (GeoJSON
as written by GDAL; the Freiberger Mulde shapefile read by pyshp and
transformed from EPSG:31468 by pyproj).

Usage: check_regions.py BASE CASES.json  (prints one line per case; exits 1
on a disagreement beyond the stated tolerance)
"""

import csv
import io
import json
import math
import sys
import urllib.parse
import urllib.request

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
import xarray as xr
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

R = 6_371_007.2


def get(base, path):
    with urllib.request.urlopen(base + path) as r:
        return r.read().decode()


def edges(c):
    c = np.asarray(c, dtype=float)
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (c[1] - c[0]) / 2], mid, [c[-1] + (c[-1] - c[-2]) / 2]])


def polygons(case):
    src = case["polygons"]
    if src.endswith(".shp"):
        import pyproj
        import shapefile

        tr = pyproj.Transformer.from_crs(case["crs"], "EPSG:4326", always_xy=True)
        out = {}
        with shapefile.Reader(src, encoding="latin-1") as sf:
            for k in range(len(sf)):
                rec = sf.record(k)
                if rec is None:  # a deleted record: not a feature
                    continue
                geom = shapely.geometry.shape(sf.shape(k).__geo_interface__)
                coords = lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
                out[str(rec[case["id_field"]]).strip()] = shapely.transform(geom, coords)
        return out
    doc = json.load(open(src))
    feats = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    field = case["id_field"]
    return {str(f["properties"][field]): shapely.geometry.shape(f["geometry"]) for f in feats}


def to_grid_longitudes(geom, lon0):
    """The polygon's pieces moved by 360° into the grid's longitude range [lon0, lon0 + 360)."""
    parts = []
    for shift in (-360.0, 0.0, 360.0):
        window = shapely.geometry.box(lon0 - shift, -90, lon0 + 360 - shift, 90)
        piece = geom.intersection(window)
        if not piece.is_empty:
            parts.append(shapely.affinity.translate(piece, xoff=shift))
    return shapely.ops.unary_union(parts)


def coverage(lat_c, lon_c, geom, seam):
    """exactextract's coverage fraction of each cell of a regular grid (centres
    `lat_c`, `lon_c`, in the plane `geom` is given in), as {(j, i): fraction}.
    With `seam` the grid is global in longitude: one column is added each side
    so pieces next to the seam meet their cell."""
    ny, nx = len(lat_c), len(lon_c)
    lat_e, lon_e = edges(lat_c), edges(lon_c)
    ids = np.arange(ny * nx, dtype=float).reshape(ny, nx)
    if lat_c[0] < lat_c[-1]:
        ids = ids[::-1]
    xmin, xmax = lon_e[0], lon_e[-1]
    if seam:
        step = lon_e[1] - lon_e[0]
        ids = np.concatenate([ids[:, -1:], ids, ids[:, :1]], axis=1)
        xmin, xmax = xmin - step, xmax + step
    ymin, ymax = min(lat_e[0], lat_e[-1]), max(lat_e[0], lat_e[-1])
    raster = NumPyRasterSource(ids, xmin, ymin, xmax, ymax)
    feature = {"type": "Feature", "properties": {"id": 1}, "geometry": shapely.geometry.mapping(geom)}
    res = exact_extract(raster, [feature], ["coverage", "values"], output="geojson")
    props = res[0]["properties"]
    out = {}
    for cov, idx in zip(props["coverage"], props["values"]):
        key = divmod(int(idx), nx)
        out[key] = out.get(key, 0.0) + cov
    return out


def box_areas(lat_c, lon_c):
    """The area on the sphere of each cell of a regular lon/lat grid (in its
    own, possibly rotated, frame: a rotation keeps areas), bounded midway."""
    lat_e, lon_e = edges(lat_c), edges(lon_c)
    lo = np.radians(np.minimum(lat_e[:-1], lat_e[1:]).clip(-90, 90))
    hi = np.radians(np.maximum(lat_e[:-1], lat_e[1:]).clip(-90, 90))
    return lambda j, i: R * R * math.radians(abs(lon_e[i + 1] - lon_e[i])) * (math.sin(hi[j]) - math.sin(lo[j]))


def ring_area(lon, lat):
    """R²·|∮ sin φ dλ| of a ring with straight edges in lon/lat (degrees),
    exact along each edge: φ linear in λ gives (Δλ/Δφ)(cos φ₁ − cos φ₂)."""
    lam, phi = np.radians(lon), np.radians(lat)
    l1, l2, p1, p2 = lam, np.roll(lam, -1), phi, np.roll(phi, -1)
    dp = p2 - p1
    flat = np.abs(dp) < 1e-12
    edge = np.where(flat, np.sin(p1) * (l2 - l1), (l2 - l1) / np.where(flat, 1, dp) * (np.cos(p1) - np.cos(p2)))
    return R * R * abs(edge.sum())


def means(values, weights):
    """The area-weighted mean of each step over the cells with a value."""
    out = []
    for step in values:
        sw = swv = 0.0
        for (j, i), w in weights.items():
            v = step[j, i]
            if np.isfinite(v):
                sw += w
                swv += w * v
        out.append(swv / sw if sw > 0 else None)
    return out


def reference_lonlat(case, geom):
    ds = xr.open_dataset(case["file"])
    var = ds[case["variable"]]
    lat = ds[var.dims[-2]].values.astype(float)
    lon = ds[var.dims[-1]].values.astype(float)
    area = box_areas(lat, lon)
    g = to_grid_longitudes(geom, edges(lon)[0])
    weights = {k: cov * area(*k) for k, cov in coverage(lat, lon, g, seam=True).items()}
    return weights, means(var.values, weights)


def reference_rotated(case, geom):
    """A rotated-pole grid: the region, densified in lon/lat (its edges are
    straight there), is taken into the rotated frame by PROJ; exactextract's
    fractions of the regular rotated cells times their areas on the sphere."""
    import pyproj

    ds = xr.open_dataset(case["file"])
    var = ds[case["variable"]]
    rlat = ds[var.dims[-2]].values.astype(float)
    rlon = ds[var.dims[-1]].values.astype(float)
    mapping = dict(ds[var.attrs["grid_mapping"]].attrs)
    # A file whose grid mapping does not place its cells where its own 2-D
    # lon/lat say is referenced in the frame that does (the case's pole).
    mapping.update(case.get("mapping", {}))
    crs = pyproj.CRS.from_cf(mapping)
    to_rotated = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    # The frame is right where the file says: its own lon/lat of every cell.
    lon2, lat2 = ds["lon"].values.astype(float), ds["lat"].values.astype(float)
    x, y = to_rotated.transform(lon2, lat2)
    gx, gy = np.meshgrid(rlon, rlat)
    assert np.abs(x - gx).max() < 1e-3 and np.abs(y - gy).max() < 1e-3, "the frame misplaces the file's cells"
    dense = shapely.segmentize(geom, 0.02)
    g = shapely.transform(dense, lambda xy: np.column_stack(to_rotated.transform(xy[:, 0], xy[:, 1])))
    area = box_areas(rlat, rlon)
    weights = {k: cov * area(*k) for k, cov in coverage(rlat, rlon, g, seam=False).items()}
    return weights, means(var.values, weights)


def reference_curvilinear(case, geom):
    """A curvilinear grid with cell vertices (CMIP `vertices_*`): each cell a
    quadrilateral with straight edges in lon/lat; shapely's share of its
    planar area inside the region times its exact area on the sphere."""
    ds = xr.open_dataset(case["file"])
    var = ds[case["variable"]]
    vlon = ds["vertices_longitude"].values.astype(float)
    vlat = ds["vertices_latitude"].values.astype(float)
    ny, nx = vlon.shape[:2]
    # Longitudes the short way round from each cell's first vertex.
    vlon = vlon[..., :1] + (vlon - vlon[..., :1] + 180.0) % 360.0 - 180.0
    rings = np.stack([vlon, vlat], axis=-1).reshape(ny * nx, 4, 2)
    cells = shapely.polygons(rings)
    # Cells left out: invalid quadrilaterals, and broken vertices (a corner
    # tens of degrees from the others: CMOR's first row of some ocean grids,
    # where areacello is missing too; the hub puts those cells midway between
    # centres, far from the regions checked).
    span = (vlat.max(axis=-1) - vlat.min(axis=-1)).reshape(-1)
    ok = shapely.is_valid(cells) & (np.abs(vlat).max(axis=-1).reshape(-1) < 90.0) & (span < 10.0)
    region = shapely.ops.unary_union([shapely.affinity.translate(geom, xoff=s) for s in (-360.0, 0.0, 360.0)])
    tree = shapely.STRtree(cells)
    weights = {}
    for k in tree.query(region, predicate="intersects"):
        if not ok[k]:
            continue
        share = shapely.area(shapely.intersection(cells[k], region)) / shapely.area(cells[k])
        if share > 0:
            weights[divmod(int(k), nx)] = share * ring_area(rings[k, :, 0], rings[k, :, 1])
    return weights, means(var.values, weights)


REFERENCES = {"lonlat": reference_lonlat, "rotated": reference_rotated, "curvilinear": reference_curvilinear}


def main():
    base, cases_file = sys.argv[1], sys.argv[2]
    failed = False
    for case in json.load(open(cases_file)):
        shapes = polygons(case)
        worst_w = worst_m = worst_total = worst_stored = 0.0
        checked = stored_checked = 0
        for rid in case["regions"]:
            loc = urllib.parse.quote(f"{case['set']}:{rid}")
            hub = json.loads(get(base, f"/collections/{case['collection']}/locations/{loc}/weights"))
            hub_w = {(c[case["y"]], c[case["x"]]): c["area_m2"] for c in hub["cells"]}
            ref_w, ref_mean = REFERENCES[case.get("grid", "lonlat")](case, shapes[rid])
            total_ref = sum(ref_w.values())
            total_hub = sum(hub_w.values())
            rel = abs(total_hub - total_ref) / total_ref
            if rel > case["tolerance"]:
                print(f"     {rid}: hub {total_hub:.6e} m² in {len(hub_w)} cells, reference {total_ref:.6e} m² in {len(ref_w)} cells")
            worst_total = max(worst_total, rel)
            # Per cell, relative to the cell's area inside the region's largest share.
            scale = max(ref_w.values())
            for key in set(ref_w) | set(hub_w):
                worst_w = max(worst_w, abs(hub_w.get(key, 0.0) - ref_w.get(key, 0.0)) / scale)
            text = get(base, f"/collections/{case['collection']}/locations/{loc}?statistic=mean&parameter-name={case['variable']}&f=csv")
            rows = list(csv.DictReader(io.StringIO(text)))
            col = f"{case['variable']}.mean"
            if not rows or col not in rows[0]:
                raise SystemExit(f"{case['collection']} {rid}: no column {col} in the answer:\n{text[:500]}")
            for row, want in zip(rows, ref_mean, strict=True):
                got = float(row[col]) if row[col] else None
                if (got is None) != (want is None):
                    worst_m = math.inf
                elif got is not None:
                    # Relative to the value, or to the variable's range where
                    # means near 0 are common (sea-ice percentages).
                    scale = case.get("mean_scale") or max(abs(want), 1e-300)
                    if abs(got - want) / scale > case["mean_tolerance"] and worst_m <= case["mean_tolerance"]:
                        print(f"     {rid}: mean {got} against {want}")
                    worst_m = max(worst_m, abs(got - want) / scale)
            if case.get("series_repo"):
                # The series the hub keeps in the dataset, as xarray reads them.
                import icechunk

                repo = icechunk.Repository.open(icechunk.local_filesystem_storage(case["series_repo"]))
                session = repo.readonly_session("main")
                group = xr.open_zarr(session.store, group=f"regions/{case['set']}", consolidated=False)
                stored = group[f"{case['variable']}_mean"].sel(region=rid).values
                for got, want in zip(stored, ref_mean, strict=True):
                    worst_stored = max(worst_stored, abs(got - want) / abs(want))
                # The weights kept beside the series are the ones the API gives.
                k = [str(r) for r in group["region"].values].index(rid)
                mine = group["cell_region"].values == k
                kept = {
                    (int(y), int(x)): float(a)
                    for y, x, a in zip(group["cell_y"].values[mine], group["cell_x"].values[mine], group["cell_area_m2"].values[mine])
                }
                if kept != hub_w:
                    print(f"     {rid}: the stored weights differ from the API's ({len(kept)} and {len(hub_w)} cells)")
                    worst_stored = math.inf
                stored_checked += 1
            checked += 1
        ok = (
            worst_total <= case["tolerance"]
            and worst_w <= case["tolerance"]
            and worst_m <= case["mean_tolerance"]
            and worst_stored <= case["mean_tolerance"]
        )
        failed |= not ok
        print(
            f"{'ok  ' if ok else 'FAIL'} {case['collection']} {case['set']}: {checked} regions, "
            f"total area rel {worst_total:.2e}, cell weight rel {worst_w:.2e}, mean rel {worst_m:.2e} "
            f"(tolerances {case['tolerance']:.0e}, mean {case['mean_tolerance']:.0e})"
        )
        if stored_checked:
            print(f"     stored series and weights read by xarray: {stored_checked} regions, mean rel {worst_stored:.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
