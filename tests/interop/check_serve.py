"""Checks the hub's EDR answers against xarray on the source files.

Usage: check_serve.py BASE_URL CASES_JSON

CASES_JSON is a list of {"collection", "file", "variable", "points"?}. For
grids with 1-D longitude/latitude the expected series is xarray's
``sel(..., method="nearest")`` at each point; for grids with 2-D latitude and
longitude (rotated, curvilinear) the points are cell centres taken from the
file's own 2-D coordinates (and points a fraction of a cell away), and the
expected cell is the nearest by great-circle distance. Values (CF-decoded by
xarray) and times (decoded in the file's calendar) must match; every
CoverageJSON answer must validate against the CoverageJSON model
(covjson-pydantic). Prints one line per check; exits 1 on any mismatch.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import xarray as xr
from covjson_pydantic.coverage import Coverage, CoverageCollection

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def find_coord(ds, da, kind):
    names = {"lat": ("latitude", "degrees_north"), "lon": ("longitude", "degrees_east")}[kind]
    for name in list(da.coords) + list(ds.coords) + list(ds.variables):
        v = ds[name]
        if v.attrs.get("standard_name") == names[0] or v.attrs.get("units") == names[1]:
            if set(v.dims) <= set(da.dims):
                return name
    raise SystemExit(f"no {kind} coordinate for {da.name}")


def iso(t):
    if isinstance(t, np.datetime64):
        return np.datetime_as_string(t, unit="s")
    return t.isoformat().split(".")[0]


def haversine(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def check_case(base, case):
    ds = xr.open_dataset(case["file"])
    da = ds[case["variable"]]
    lat_name, lon_name = find_coord(ds, da, "lat"), find_coord(ds, da, "lon")
    lat, lon = ds[lat_name], ds[lon_name]
    tdim = next((d for d in da.dims if d in ds.variables and ds[d].attrs.get("standard_name") == "time"), None)
    if lat.ndim == 1:
        points = case.get("points") or []
        targets = []
        for plon, plat in points:
            qlon = plon
            if float(lon.min()) >= 0 and plon < 0:
                qlon = plon % 360
            sel = da.sel({lat.dims[0]: plat, lon.dims[0]: qlon}, method="nearest")
            targets.append((plon, plat, sel))
    else:
        ny, nx = lat.shape
        rng = np.random.default_rng(7)
        cells = [(ny // 2, nx // 2), (ny // 3, nx // 4)] + [
            (int(rng.integers(1, ny - 1)), int(rng.integers(1, nx - 1))) for _ in range(4)
        ]
        targets = []
        lat2, lon2 = lat.values, ((lon.values + 180) % 360) - 180
        for j, i in cells:
            if not (np.isfinite(lat2[j, i]) and np.isfinite(lon2[j, i])):
                continue
            # A point a fifth of the way to the next cell: still nearest to (j, i).
            plon = lon2[j, i] + 0.2 * (((lon2[j, i + 1] - lon2[j, i] + 180) % 360) - 180)
            plat = lat2[j, i] + 0.2 * (lat2[j + 1, i] - lat2[j, i])
            d = haversine(lon2, lat2, plon, plat)
            jj, ii = np.unravel_index(np.nanargmin(d), d.shape)
            targets.append((float(plon), float(plat), da.isel({lat.dims[0]: jj, lat.dims[1]: ii})))
    for plon, plat, expected in targets:
        q = urllib.parse.urlencode(
            {"coords": f"POINT({plon} {plat})", "parameter-name": case["variable"]}
        )
        url = f"{base}/collections/{case['collection']}/position?{q}"
        status, body = get(url)
        label = f"{case['collection']} {case['variable']} POINT({plon:.4f} {plat:.4f})"
        if status != 200:
            fail(f"{label}: HTTP {status}: {body[:300]!r}")
            continue
        try:
            Coverage.model_validate_json(body)
        except Exception as e:  # noqa: BLE001 - report any validation error
            fail(f"{label}: not valid CoverageJSON: {e}")
        cov = json.loads(body)
        got = np.array([np.nan if v is None else v for v in cov["ranges"][case["variable"]]["values"]], dtype=float)
        want = np.asarray(expected.values, dtype=float).ravel()
        if got.shape != want.shape:
            fail(f"{label}: {got.shape[0]} values, xarray has {want.shape[0]}")
            continue
        if not np.allclose(got, want, rtol=1e-6, atol=0, equal_nan=True):
            k = int(np.argmax(~np.isclose(got, want, rtol=1e-6, equal_nan=True)))
            fail(f"{label}: value {k}: hub {got[k]}, xarray {want[k]}")
            continue
        if tdim is not None:
            times = [t.rstrip("Z") for t in cov["domain"]["axes"]["t"]["values"]]
            want_t = [iso(t) for t in expected[tdim].values]
            if [t[:19] for t in times] != [t[:19] for t in want_t]:
                fail(f"{label}: times {times[:3]}… vs xarray {want_t[:3]}…")
                continue
        print(f"ok   {label}: {got.shape[0]} values equal to xarray's nearest cell")


def check_collection_validates(base, collection):
    status, body = get(f"{base}/collections/{collection}/position?coords=MULTIPOINT((10%2050),(11%2051))")
    if status == 200:
        try:
            CoverageCollection.model_validate_json(body)
            print(f"ok   {collection}: MULTIPOINT answer is a valid CoverageCollection")
        except Exception as e:  # noqa: BLE001
            fail(f"{collection}: MULTIPOINT answer is not a valid CoverageCollection: {e}")


def check_other_queries_validate(base, case):
    """Cube, area and trajectory answers around the first checked point are
    valid CoverageJSON; on 1-D lon/lat grids the cube's values equal xarray's
    slice of the same cells."""
    ds = xr.open_dataset(case["file"])
    da = ds[case["variable"]]
    lat_name, lon_name = find_coord(ds, da, "lat"), find_coord(ds, da, "lon")
    lat, lon = ds[lat_name], ds[lon_name]
    if lat.ndim == 1:
        plon, plat = case["points"][0]
    else:
        j, i = lat.shape[0] // 2, lat.shape[1] // 2
        plon, plat = float(((lon.values[j, i] + 180) % 360) - 180), float(lat.values[j, i])
    d = 3.0
    var = case["variable"]
    queries = {
        "cube": {"bbox": f"{plon - d},{plat - d},{plon + d},{plat + d}"},
        "area": {"coords": f"POLYGON(({plon - d} {plat - d},{plon + d} {plat - d},{plon + d} {plat + d},{plon - d} {plat + d},{plon - d} {plat - d}))"},
        "trajectory": {"coords": f"LINESTRING({plon - d} {plat},{plon} {plat},{plon + d} {plat + d})"},
    }
    for kind, params in queries.items():
        q = urllib.parse.urlencode({**params, "parameter-name": var})
        status, body = get(f"{base}/collections/{case['collection']}/{kind}?{q}")
        label = f"{case['collection']} {kind}"
        if status != 200:
            fail(f"{label}: HTTP {status}: {body[:300]!r}")
            continue
        cov = json.loads(body)
        model = CoverageCollection if cov.get("type") == "CoverageCollection" else Coverage
        try:
            model.model_validate_json(body)
        except Exception as e:  # noqa: BLE001
            fail(f"{label}: not valid CoverageJSON: {e}")
            continue
        if kind in ("cube", "area"):
            check_netcdf_answer(base, case, kind, params, cov)
        if kind == "cube" and lat.ndim == 1:
            xs = cov["domain"]["axes"]["x"]["values"]
            ys = cov["domain"]["axes"]["y"]["values"]
            lons = lon.values
            want_x = [float(((v + 180) % 360) - 180) if float(lon.min()) >= 0 and plon < 0 else float(v) for v in lons]
            ii = [int(np.argmin(np.abs(np.array(want_x) - x))) for x in xs]
            jj = [int(np.argmin(np.abs(lat.values - y))) for y in ys]
            want = da.isel({lat.dims[0]: jj, lon.dims[0]: ii})
            want = want.transpose(*[dim for dim in da.dims if dim not in (lat.dims[0], lon.dims[0])], lat.dims[0], lon.dims[0])
            got = np.array([np.nan if v is None else v for v in cov["ranges"][var]["values"]], dtype=float)
            if got.size != want.size or not np.allclose(got, want.values.ravel(), rtol=1e-6, equal_nan=True):
                fail(f"{label}: {got.size} values differ from xarray's {want.size}")
                continue
            print(f"ok   {label}: {len(ys)}x{len(xs)} cells equal to xarray's slice, valid CoverageJSON")
        elif kind == "cube" and lat.ndim == 2:
            # Each (x, y) tuple is a cell centre of the file's own 2-D lat/lon.
            tuples = cov["domain"]["axes"]["composite"]["values"]
            lon2 = ((lon.values + 180) % 360) - 180
            got = np.array([np.nan if v is None else v for v in cov["ranges"][var]["values"]], dtype=float)
            got = got.reshape(-1, len(tuples))
            bad = 0
            for k, (tx, ty) in enumerate(tuples):
                hit = np.argwhere(np.isclose(lon2, tx, atol=1e-6) & np.isclose(lat.values, ty, atol=1e-6))
                if len(hit) == 0:
                    bad += 1
                    continue
                jj, ii = hit[0]
                want = np.asarray(da.isel({lat.dims[0]: jj, lat.dims[1]: ii}).values, dtype=float).ravel()
                if not np.allclose(got[:, k], want, rtol=1e-6, equal_nan=True):
                    bad += 1
            if bad or not tuples:
                fail(f"{label}: {bad} of {len(tuples)} cells differ from the file's cell at that position")
                continue
            print(f"ok   {label}: {len(tuples)} cells, each equal to the file's cell at its (lon, lat)")
        else:
            print(f"ok   {label}: valid CoverageJSON {cov['type']}")


def check_netcdf_answer(base, case, kind, params, cov):
    """The same query as CF NetCDF: xarray opens it, decodes its times to the
    CoverageJSON's, and finds the same values."""
    import tempfile

    var = case["variable"]
    q = urllib.parse.urlencode({**params, "parameter-name": var, "f": "netcdf"})
    status, body = get(f"{base}/collections/{case['collection']}/{kind}?{q}")
    label = f"{case['collection']} {kind} f=netcdf"
    if status != 200:
        fail(f"{label}: HTTP {status}: {body[:300]!r}")
        return
    with tempfile.NamedTemporaryFile(suffix=".nc") as f:
        f.write(body)
        f.flush()
        with xr.open_dataset(f.name, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as nc:
            got = nc[var].values.astype(float).ravel()
            times = [iso(t) for t in nc["time"].values] if "time" in nc else []
    want = np.array([np.nan if v is None else v for v in cov["ranges"][var]["values"]], dtype=float)
    if "composite" in cov["domain"]["axes"]:
        # The CoverageJSON keeps only covered cells; compare the covered values.
        got = got[~np.isnan(got)]
        want = want[~np.isnan(want)]
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, equal_nan=True):
        fail(f"{label}: values differ from the CoverageJSON answer ({got.shape} vs {want.shape})")
        return
    want_t = [t.rstrip("Z")[:19] for t in cov["domain"]["axes"].get("t", {}).get("values", [])]
    if times and [t[:19] for t in times] != want_t:
        fail(f"{label}: times {times[:2]} vs {want_t[:2]}")
        return
    print(f"ok   {label}: xarray reads {got.size} values and {len(times)} times equal to the CoverageJSON answer")


def main():
    base, cases_path = sys.argv[1].rstrip("/"), sys.argv[2]
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        check_case(base, case)
        check_other_queries_validate(base, case)
        if case.get("multipoint"):
            check_collection_validates(base, case["collection"])
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
