"""xarray (through Python icechunk) opens datasets the hub grew by appends and
sees what a user expects: the appended NetCDF dataset equals xarray's own
concatenation of the source files sorted by time; radar composites and GRIB2
model runs decode to the expected times and values.

Usage: check_streams.py CASES.json   (written by tests/interop_streams.rs)
"""
import json
import sys

import icechunk
import numpy as np
import xarray as xr


def open_hub(repo):
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(repo)).readonly_session("main")
    return xr.open_zarr(session.store, consolidated=False, decode_timedelta=True)


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def iso(values):
    return [str(np.datetime_as_string(v, unit="s")) + "Z" for v in np.asarray(values).ravel()]


def check_concat(case):
    hub = open_hub(case["repo"])
    parts = [xr.open_dataset(p, decode_timedelta=True) for p in case["sources"]]
    want = xr.concat(parts, dim="time").sortby("time")
    # A later delivery of the same time replaces the earlier one: keep the last.
    want = want.isel(time=~want.get_index("time").duplicated(keep="last"))
    if list(hub.time.values) != list(want.time.values):
        fail(f"{case['repo']}: time {hub.time.values} != {want.time.values}")
    for name in ["tas", "time_bnds"]:
        a, b = hub[name].values, want[name].values
        if a.shape != b.shape or not np.array_equal(a, b):
            fail(f"{case['repo']}: {name} differs")
    if hub.tas.dims != ("time", "lat", "lon"):
        fail(f"{case['repo']}: dims {hub.tas.dims}")
    print(f"ok {case['repo']}: {hub.sizes['time']} steps equal xarray's concatenation of the sources")


def check_points(case):
    ds = open_hub(case["repo"])
    for coord, want in case.get("times", {}).items():
        got = iso(ds[coord].values)
        if got != want:
            fail(f"{case['repo']}: {coord} {got} != {want}")
    for coord, want in case.get("timedeltas_s", {}).items():
        got = [int(v / np.timedelta64(1, "s")) for v in ds[coord].values]
        if got != want:
            fail(f"{case['repo']}: {coord} {got} != {want}")
    for p in case["points"]:
        got = float(ds[p["var"]].isel(p["isel"]).values)
        want = p["value"]
        if not ((np.isnan(got) and want is None) or (want is not None and abs(got - want) <= 1e-4 * max(1.0, abs(want)))):
            fail(f"{case['repo']}: {p['var']}{p['isel']} = {got}, want {want}")
    for var, gm in case.get("grid_mapping", {}).items():
        if ds[var].attrs.get("grid_mapping") != gm and ds[var].encoding.get("grid_mapping") != gm:
            fail(f"{case['repo']}: {var} has no grid_mapping {gm}")
        if "crs_wkt" not in ds[gm].attrs:
            fail(f"{case['repo']}: {gm} has no crs_wkt")
    print(f"ok {case['repo']}: {len(case['points'])} values and the time axes as expected")


def main():
    for case in json.load(open(sys.argv[1])):
        {"concat": check_concat, "points": check_points}[case["kind"]](case)


if __name__ == "__main__":
    main()
