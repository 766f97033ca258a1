"""Region weights and statistics of the hub against exactextract.

For each case the hub's `/locations/{set}:{id}/weights` (every cell's
fraction and area) and `/locations/{set}:{id}?statistic=mean&f=csv` are
compared with an independent reference computed here on the source file:
exactextract's coverage fraction of each cell (planar in lon/lat) times the
cell's area on the sphere (R = 6,371,007.2 m; cells bounded midway between
the file's centres, latitudes clipped to ±90), and the weighted mean of the
file's values read by xarray. Polygons come from the source files (GeoJSON
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


def reference(case, geom):
    ds = xr.open_dataset(case["file"])
    var = ds[case["variable"]]
    lat_name, lon_name = var.dims[-2], var.dims[-1]
    lat = ds[lat_name].values.astype(float)
    lon = ds[lon_name].values.astype(float)
    ny, nx = len(lat), len(lon)
    lat_e, lon_e = edges(lat), edges(lon)
    # Pad one column each side so pieces next to the seam meet their cell.
    lon_step = lon_e[1] - lon_e[0]
    ids = np.arange(ny * nx, dtype=float).reshape(ny, nx)
    if lat[0] < lat[-1]:
        ids = ids[::-1]
    padded = np.concatenate([ids[:, -1:], ids, ids[:, :1]], axis=1)
    xmin, xmax = lon_e[0] - lon_step, lon_e[-1] + lon_step
    ymin, ymax = min(lat_e[0], lat_e[-1]), max(lat_e[0], lat_e[-1])
    raster = NumPyRasterSource(padded, xmin, ymin, xmax, ymax)
    g = to_grid_longitudes(geom, lon_e[0])
    feature = {"type": "Feature", "properties": {"id": 1}, "geometry": shapely.geometry.mapping(g)}
    res = exact_extract(raster, [feature], ["cell_id", "coverage", "values"], output="geojson")
    props = res[0]["properties"]
    lat_lo = np.minimum(lat_e[:-1], lat_e[1:]).clip(-90, 90)
    lat_hi = np.maximum(lat_e[:-1], lat_e[1:]).clip(-90, 90)
    weights = {}
    for cov, idx in zip(props["coverage"], props["values"]):
        k = int(idx)
        j, i = divmod(k, nx)
        cell = R * R * math.radians(abs(lon_e[i + 1] - lon_e[i])) * (math.sin(math.radians(lat_hi[j])) - math.sin(math.radians(lat_lo[j])))
        weights[(j, i)] = weights.get((j, i), 0.0) + cov * cell
    values = var.values.reshape(var.shape[0], ny * nx)
    means = []
    for step in values:
        sw = swv = 0.0
        for (j, i), w in weights.items():
            v = step[j * nx + i]
            if np.isfinite(v):
                sw += w
                swv += w * v
        means.append(swv / sw if sw > 0 else None)
    return weights, means


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
            ref_w, ref_mean = reference(case, shapes[rid])
            total_ref = sum(ref_w.values())
            total_hub = sum(hub_w.values())
            worst_total = max(worst_total, abs(total_hub - total_ref) / total_ref)
            # Per cell, relative to the cell's area inside the region's largest share.
            scale = max(ref_w.values())
            for key in set(ref_w) | set(hub_w):
                worst_w = max(worst_w, abs(hub_w.get(key, 0.0) - ref_w.get(key, 0.0)) / scale)
            text = get(base, f"/collections/{case['collection']}/locations/{loc}?statistic=mean&f=csv")
            rows = list(csv.DictReader(io.StringIO(text)))
            col = f"{case['variable']}.mean"
            for row, want in zip(rows, ref_mean, strict=True):
                got = float(row[col]) if row[col] else None
                if (got is None) != (want is None):
                    worst_m = math.inf
                elif got is not None:
                    worst_m = max(worst_m, abs(got - want) / max(abs(want), 1e-300))
            if case.get("series_repo"):
                # The series the hub keeps in the dataset, as xarray reads them.
                import icechunk

                repo = icechunk.Repository.open(icechunk.local_filesystem_storage(case["series_repo"]))
                session = repo.readonly_session("main")
                group = xr.open_zarr(session.store, group=f"regions/{case['set']}", consolidated=False)
                stored = group[f"{case['variable']}_mean"].sel(region=rid).values
                for got, want in zip(stored, ref_mean, strict=True):
                    worst_stored = max(worst_stored, abs(got - want) / abs(want))
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
            print(f"     stored series read by xarray: {stored_checked} regions, mean rel {worst_stored:.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
