"""Compare datasets in the hub with their source files, as xarray sees them.

Usage: compare_xarray.py MANIFEST.json
The manifest lists {"repo": <Icechunk repository folder>, "source": <NetCDF file>}.
For every group of the source that holds variables, xarray opens the source
(netCDF4 engine) and the hub's copy (Python icechunk + xarray.open_zarr) and
checks: the same variables, dimensions and sizes, coordinates, raw (undecoded)
values identical, CF-decoded values equal (times decoded in their calendar),
and the CF attributes the same. Exit status 0 when every pair matches.
"""
import json
import sys

import icechunk
import netCDF4
import numpy as np
import xarray as xr

# Attributes that describe storage, not data: they legitimately differ.
STORAGE_ATTRS = {"_FillValue", "missing_value", "_ChunkSizes", "_Storage", "_DeflateLevel", "_Shuffle",
                 "_Endianness", "_Fletcher32", "_NCProperties", "_Encoding", "coordinates", "_Unsigned",
                 "scale_factor", "add_offset", "units", "calendar", "dtype"}


def groups_with_variables(path):
    out = []

    def walk(g, prefix):
        if g.variables:
            out.append(prefix)
        for name, child in g.groups.items():
            walk(child, f"{prefix}/{name}" if prefix else name)

    with netCDF4.Dataset(path) as ds:
        walk(ds, "")
    return out


def normalise(values):
    """Text as str (xarray gives bytes for char arrays in NetCDF, str in Zarr)."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    if values.dtype.kind == "O":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in values.ravel()],
                        dtype=object).reshape(values.shape)
    if values.dtype.kind == "T":  # numpy StringDType
        return values.astype(object)
    return values


def same_values(a, b, what, exact=True):
    a, b = normalise(np.asarray(a)), normalise(np.asarray(b))
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shape {a.shape} != {b.shape}")
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=what, strict=False)
        else:
            # Packed values: the source decodes with float32 scale factors, the
            # store's JSON attributes are float64 (as when xarray writes Zarr).
            np.testing.assert_allclose(a.astype("f8"), b.astype("f8"), rtol=1e-6, atol=0, equal_nan=True, err_msg=what)
    elif a.dtype.kind == "M" or b.dtype.kind == "M":
        np.testing.assert_array_equal(a.astype("M8[ns]"), b.astype("M8[ns]"), err_msg=what)
    elif a.dtype.kind == "O" or b.dtype.kind == "O":
        if not all(str(x) == str(y) for x, y in zip(a.ravel(), b.ravel())):
            raise AssertionError(f"{what}: values differ")
    else:
        np.testing.assert_array_equal(a, b, err_msg=what, strict=False)


def compare(repo_path, source, group):
    label = f"{source}{'#' + group if group else ''}"
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(repo_path))
    store = repo.readonly_session("main").store
    kw = {"group": group} if group else {}
    # Raw values: no CF decoding at all.
    src_raw = xr.open_dataset(source, decode_cf=False, mask_and_scale=False, engine="netcdf4", **kw)
    hub_raw = xr.open_zarr(store, consolidated=False, decode_cf=False, mask_and_scale=False, **kw)
    names = set(src_raw.variables)
    if names != set(hub_raw.variables):
        raise AssertionError(f"{label}: variables {sorted(names)} != {sorted(hub_raw.variables)}")
    # char arrays: the hub folds the string-length dimension into text, as
    # xarray's own CF decoding does.
    char_dims = {src_raw[n].dims[-1] for n in names if src_raw[n].dtype == "S1" and src_raw[n].ndim > 0}
    sizes = {d: n for d, n in src_raw.sizes.items() if d not in char_dims or d in hub_raw.sizes}
    if sizes != dict(hub_raw.sizes):
        raise AssertionError(f"{label}: sizes {sizes} != {dict(hub_raw.sizes)}")
    for name in names:
        a, b = src_raw[name], hub_raw[name]
        values, dims = a.values, a.dims
        if a.dtype == "S1" and a.ndim > 0:
            values, dims = netCDF4.chartostring(values), dims[:-1]
        if dims != b.dims:
            raise AssertionError(f"{label}:{name}: dims {dims} != {b.dims}")
        same_values(values, b.values, f"{label}:{name} (raw)")
    # CF-decoded: masks, packing, times in their calendars, coordinates.
    src = xr.open_dataset(source, engine="netcdf4", **kw)
    hub = xr.open_zarr(store, consolidated=False, **kw)
    if set(src.coords) != set(hub.coords):
        raise AssertionError(f"{label}: coords {sorted(src.coords)} != {sorted(hub.coords)}")
    for name in names:
        a, b = src[name], hub[name]
        packed = "scale_factor" in src_raw[name].attrs or "add_offset" in src_raw[name].attrs
        same_values(a.values, b.values, f"{label}:{name} (decoded)", exact=not packed)
        for k, v in a.attrs.items():
            if k in STORAGE_ATTRS:
                continue
            if k not in b.attrs:
                raise AssertionError(f"{label}:{name}: attribute {k} missing")
            same_values(np.asarray(v), np.asarray(b.attrs[k]), f"{label}:{name}.{k}")
        if "calendar" in a.encoding and a.encoding.get("calendar") != b.encoding.get("calendar"):
            raise AssertionError(f"{label}:{name}: calendar {a.encoding.get('calendar')} != {b.encoding.get('calendar')}")
    for k, v in src.attrs.items():
        if k in STORAGE_ATTRS:
            continue
        if k not in hub.attrs:
            raise AssertionError(f"{label}: global attribute {k} missing")
    return f"ok {label}: {len(names)} variables"


def main():
    pairs = json.load(open(sys.argv[1]))
    failures = 0
    for p in pairs:
        for group in groups_with_variables(p["source"]):
            try:
                print(compare(p["repo"], p["source"], group), flush=True)
            except Exception as e:  # report every pair, then fail
                failures += 1
                print(f"FAIL {p['source']}#{group}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
