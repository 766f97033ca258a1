"""The consortium-sized ensemble for the change-signal benchmark: 96 members
(4 scenarios x 4 climate models x 3 impact models x 2 variants) of an annual
indicator on the 0.5 degree global grid, 150 years (1951-2100), in the three
calendars CMIP members mix, one CF NetCDF-4 file per member.

usage: ensemble96.py OUTDIR
       ensemble96.py xclim OUTDIR BASELINE PERIOD   (the peer: xclim on the same files)

The values: a smooth climatology, a warming that grows with the scenario and
differs per model (some members cool in some regions, so the three robustness
categories all occur), and interannual noise.
"""
import itertools
import os
import sys
import time

import numpy as np

SCENARIOS = ["ssp126", "ssp245", "ssp370", "ssp585"]
GCMS = ["gcm1", "gcm2", "gcm3", "gcm4"]
IMPACT = ["him1", "him2", "him3"]
VARIANTS = ["r1", "r2"]
CALENDARS = ["noleap", "360_day", "proleptic_gregorian"]
YEARS = np.arange(1951, 2101)
LAT = np.arange(-89.75, 90, 0.5)
LON = np.arange(-179.75, 180, 0.5)


def members():
    return list(itertools.product(SCENARIOS, GCMS, IMPACT, VARIANTS))


def write(outdir):
    import cftime
    import netCDF4

    os.makedirs(outdir, exist_ok=True)
    lat2, lon2 = np.meshgrid(np.deg2rad(LAT), np.deg2rad(LON), indexing="ij")
    clim = (280 + 20 * np.cos(lat2)).astype("f4")
    ramp = np.clip((YEARS - 2010) / 90.0, 0, None)
    for k, (s, g, h, v) in enumerate(members()):
        path = os.path.join(outdir, f"qtot_{s}_{g}_{h}_{v}.nc")
        if os.path.exists(path):
            continue
        t0 = time.time()
        rng = np.random.default_rng(k)
        cal = CALENDARS[k % 3]
        amp = (1 + SCENARIOS.index(s)) * (0.5 + 0.25 * GCMS.index(g))
        pattern = (np.sin(3 * lon2 + GCMS.index(g)) * np.cos(2 * lat2) + 0.3 * (IMPACT.index(h) - 1)).astype("f4")
        with netCDF4.Dataset(path + ".tmp", "w") as d:
            d.createDimension("time", None)
            d.createDimension("lat", len(LAT))
            d.createDimension("lon", len(LON))
            t = d.createVariable("time", "f8", ("time",))
            t.units = "days since 1950-01-01"
            t.calendar = cal
            t[:] = cftime.date2num([cftime.datetime(int(y), 7, 1, calendar=cal) for y in YEARS], t.units, cal)
            for name, vals in (("lat", LAT), ("lon", LON)):
                c = d.createVariable(name, "f8", (name,))
                c.units = "degrees_north" if name == "lat" else "degrees_east"
                c.standard_name = "latitude" if name == "lat" else "longitude"
                c[:] = vals
            var = d.createVariable("qtot", "f4", ("time", "lat", "lon"), chunksizes=(1, len(LAT), len(LON)),
                                   fill_value=np.float32(1e20))
            var.units = "K"
            var.long_name = "synthetic annual indicator"
            for i, y in enumerate(YEARS):
                noise = rng.normal(0, 0.4, size=clim.shape).astype("f4")
                var[i] = clim + amp * ramp[i] * pattern + noise
            d.experiment_id, d.source_id, d.impact_model, d.variant_label = s, g, h, v
        os.replace(path + ".tmp", path)
        print(f"{path} {cal} {time.time() - t0:.1f}s", flush=True)


def peer(outdir, baseline, period):
    """xclim on the same members: the change of the median, p10, p90 and the
    AR6 approach C robustness map, timed from opening the files."""
    t0 = time.perf_counter()
    import xarray as xr
    from xclim import ensembles

    files = [os.path.join(outdir, f"qtot_{s}_{g}_{h}_{v}.nc") for s, g, h, v in members()]
    dss = [xr.open_dataset(f, use_cftime=True, chunks={"time": 30})[["qtot"]] for f in files]
    ens = ensembles.create_ensemble(dss)["qtot"].astype("f8")
    b0, b1 = baseline.split("/")
    p0, p1 = period.split("/")
    ref = ens.sel(time=slice(b0, b1))
    fut = ens.sel(time=slice(p0, p1))
    fr = ensembles.robustness_fractions(fut, ref, test="ipcc-ar6-c")
    cats = ensembles.robustness_categories(fr)
    delta = fut.mean("time") - ref.mean("time")
    pct = ensembles.ensemble_percentiles(delta, values=[10, 50, 90], split=False)
    out = xr.Dataset({"categories": cats, "p": pct, "changed": fr.changed, "agree": fr.agree}).compute()
    secs = time.perf_counter() - t0
    counts = {int(c): int((out.categories == c).sum()) for c in (1, 2, 3)}
    print(f"ensemble96.change_map.xclim\t{secs:.3f}\t{secs:.3f}\truns=1\tmembers={len(files)};categories={counts}")


if __name__ == "__main__":
    if sys.argv[1] == "xclim":
        peer(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        write(sys.argv[1])
