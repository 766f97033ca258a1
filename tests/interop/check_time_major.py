"""Check a dataset's time-major copy as xarray sees it.

Usage: check_time_major.py MANIFEST.json
The manifest lists {"repos": [<Icechunk repository folder>, ...]}. For each,
xarray opens the dataset (Python icechunk + xarray.open_zarr) and its
`time_major` group, and checks: every variable of the group is a variable of
the dataset, with the same dimensions, attributes (beside the copy's own)
and values — raw and CF-decoded — for the steps the copy holds, and the
copy's coordinates equal the dataset's. Prints one line per variable.
"""
import json
import os
import sys

import icechunk
import numpy as np
import xarray as xr

OWN = {"hub_time_major_of", "hub_time_major_block", "hub_time_major_dim"}


def main():
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    for path in manifest["repos"]:
        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(path))
        store = repo.readonly_session("main").store
        name = os.path.basename(path.rstrip("/"))
        for decode in (False, True):
            data = xr.open_zarr(store, consolidated=False, decode_cf=decode, mask_and_scale=decode)
            copy = xr.open_zarr(store, group="time_major", consolidated=False, decode_cf=decode, mask_and_scale=decode)
            if not copy.data_vars:
                raise AssertionError(f"{name}: the time_major group holds no variable")
            for var, c in copy.data_vars.items():
                d = data[var]
                grows = c.attrs.get("hub_time_major_dim", c.encoding.get("hub_time_major_dim"))
                if decode is False and grows is None:
                    raise AssertionError(f"{name}/{var}: no hub_time_major_dim attribute")
                grows = grows or c.dims[0]
                if c.dims != d.dims:
                    raise AssertionError(f"{name}/{var}: dims {c.dims} != {d.dims}")
                n = c.sizes[grows]
                expected = d.isel({grows: slice(0, n)})
                np.testing.assert_array_equal(c.values, expected.values, err_msg=f"{name}/{var} decode={decode}")
                for dim in c.dims:
                    np.testing.assert_array_equal(copy[dim].values, expected[dim].values, err_msg=f"{name}/{dim}")
                extra = {k: v for k, v in c.attrs.items() if k not in OWN}
                if decode is False and extra != d.attrs:
                    raise AssertionError(f"{name}/{var}: attributes {extra} != {d.attrs}")
                if decode:
                    print(f"{name}: {var} {n} of {d.sizes[grows]} steps, chunks {c.encoding.get('chunks')}")


if __name__ == "__main__":
    main()
