"""Ensemble statistics, change signals and robustness of the hub against xclim.

usage: check_ensembles.py generate OUTDIR
       check_ensembles.py check BASE CASES.json

`generate` writes synthetic annual members (CF NetCDF, netCDF4-python) on one
small grid in four calendars: columns of cells built to be robust, without
change and conflicting; one member ending in 2050 (it cannot give 2071-2100);
one missing value in a baseline year; and one member on another grid.

`check` reads each ensemble's member files with xarray, builds the ensemble
with xclim (`create_ensemble`, in float64), computes `ensemble_mean_std_max_min`,
`ensemble_percentiles`, `robustness_fractions(test="ipcc-ar6-c")` and
`robustness_categories`, and compares them with the hub's answers (cube, position
and a registered region, whose area-weighted means use the hub's published
weights) for every cell. Prints one `ok ...` line per comparison.
"""
import json
import os
import sys
import urllib.request

import numpy as np

YEARS = range(1951, 2101)
LAT = np.array([45.25, 45.75, 46.25, 46.75])
LON = np.array([-74.75, -74.25, -73.75, -73.25, -72.75, -72.25])
CALENDARS = ["noleap", "360_day", "proleptic_gregorian", "standard"]


def member_values(m, years, lat=LAT):
    rng = np.random.default_rng(100 + m)
    data = np.empty((len(years), len(lat), len(LON)), dtype="f4")
    for k, y in enumerate(years):
        ramp = max(0.0, (y - 2010) / 90.0)
        for i in range(len(LON)):
            noise = rng.normal(0.0, 0.3, size=len(lat))
            if i < 2:  # every member warms: robust
                trend = 3.0 * ramp
            elif i < 4:  # no trend, noisy: no change
                trend = 0.0
                noise = rng.normal(0.0, 1.0, size=len(lat))
            else:  # half warm, half cool: conflicting
                trend = 3.0 * ramp if m % 2 == 0 else -3.0 * ramp
            data[k, :, i] = 280.0 + 0.5 * m + trend + noise
    return data


def write_axes(d, years, calendar, lat):
    import cftime

    d.createDimension("time", None)
    d.createDimension("lat", len(lat))
    d.createDimension("lon", len(LON))
    t = d.createVariable("time", "f8", ("time",))
    t.units = "days since 1950-01-01"
    t.calendar = calendar
    t[:] = cftime.date2num([cftime.datetime(y, 7, 1, calendar=calendar) for y in years], t.units, calendar)
    for name, vals, units in (("lat", lat, "degrees_north"), ("lon", LON, "degrees_east")):
        v = d.createVariable(name, "f8", (name,))
        v.units = units
        v.standard_name = "latitude" if name == "lat" else "longitude"
        v[:] = vals


def write_member(path, m, calendar, last_year=2100, lat=LAT, missing=None):
    import netCDF4

    years = [y for y in YEARS if y <= last_year]
    data = member_values(m, years, lat)
    if missing is not None:
        k = years.index(missing[0])
        data[k, missing[1], missing[2]] = np.nan
    with netCDF4.Dataset(path, "w") as d:
        write_axes(d, years, calendar, lat)
        v = d.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(np.nan))
        v.units = "K"
        v.standard_name = "air_temperature"
        v[:] = data
        d.source_id = f"m{m}"


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    for m in range(8):
        cal = CALENDARS[m % 4]
        write_member(
            os.path.join(outdir, f"tas_m{m}_{cal}.nc"), m, cal,
            last_year=2050 if m == 7 else 2100,
            missing=(1990, 0, 0) if m == 1 else None,
        )
    write_member(os.path.join(outdir, "tas_m9_noleap.nc"), 9, "noleap", lat=LAT + 0.1)
    # A seasonal-hindcast shape: the members along a dimension of one file.
    import netCDF4

    years = list(YEARS)
    with netCDF4.Dataset(os.path.join(outdir, "hindcast", "tas_hindcast.nc") if os.makedirs(
            os.path.join(outdir, "hindcast"), exist_ok=True) is None else "", "w") as d:
        write_axes(d, years, "noleap", LAT)
        d.createDimension("realization", 6)
        r = d.createVariable("realization", "i4", ("realization",))
        r.standard_name = "realization"
        r[:] = np.arange(6)
        v = d.createVariable("tas", "f4", ("realization", "time", "lat", "lon"), fill_value=np.float32(np.nan))
        v.units = "K"
        v.standard_name = "air_temperature"
        v[:] = np.stack([member_values(m, years) for m in range(6)])


def get(url):
    with urllib.request.urlopen(url) as r:
        return json.load(r)


def compare(what, got, want, rtol=1e-9, atol=1e-9):
    got = np.asarray(got, dtype="f8")
    want = np.asarray(want, dtype="f8")
    if got.shape != want.shape:
        raise SystemExit(f"FAIL {what}: shape {got.shape} vs {want.shape}")
    both = np.isnan(got) & np.isnan(want)
    bad = ~both & ~np.isclose(got, want, rtol=rtol, atol=atol)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        raise SystemExit(f"FAIL {what}: {bad.sum()} differ, e.g. at {idx.tolist()}: {got[bad][:5]} vs {want[bad][:5]}")
    print(f"ok   {what}: {got.size} values")


def grid_values(doc, key):
    r = doc["ranges"][key]
    return np.array([np.nan if v is None else v for v in r["values"]], dtype="f8").reshape(r["shape"])


def ensemble(files, var):
    import xarray as xr
    from xclim import ensembles

    if len(files) == 1:  # the members along a dimension of one file
        return xr.open_dataset(files[0], use_cftime=True)[var].astype("f8")

    dss = [xr.open_dataset(f, use_cftime=True)[[var]].astype("f8") for f in files]
    return ensembles.create_ensemble(dss)[var]


def stats_reference(ens):
    from xclim import ensembles

    s = ensembles.ensemble_mean_std_max_min(ens.to_dataset())
    v = ens.name
    p = ensembles.ensemble_percentiles(ens, values=[10, 25, 50, 75, 90], split=False)
    out = {
        "mean": s[f"{v}_mean"], "std": s[f"{v}_stdev"], "min": s[f"{v}_min"], "max": s[f"{v}_max"],
        "p10": p.sel(percentiles=10), "p25": p.sel(percentiles=25), "median": p.sel(percentiles=50),
        "p75": p.sel(percentiles=75), "p90": p.sel(percentiles=90),
        "count": ens.count("realization"),
    }
    return out


def change_reference(ens, baseline, period):
    from xclim import ensembles

    ref = ens.sel(time=slice(str(baseline[0]), str(baseline[1])))
    fut = ens.sel(time=slice(str(period[0]), str(period[1])))
    fr = ensembles.robustness_fractions(fut, ref, test="ipcc-ar6-c")
    cats = ensembles.robustness_categories(fr)
    valid = fut.notnull().all("time") & ref.notnull().all("time")
    refm = ref.mean("time")
    delta = (fut.mean("time") - refm).where(valid)
    rel = (100 * (fut.mean("time") - refm) / refm).where(valid)
    dp = ensembles.ensemble_percentiles(delta, values=[10, 50, 90], split=False)
    rp = ensembles.ensemble_percentiles(rel, values=[10, 50, 90], split=False)
    return {
        "change.p10": dp.sel(percentiles=10), "change.median": dp.sel(percentiles=50),
        "change.p90": dp.sel(percentiles=90),
        "change_relative.p10": rp.sel(percentiles=10), "change_relative.median": rp.sel(percentiles=50),
        "change_relative.p90": rp.sel(percentiles=90),
        "changed": fr.changed, "positive": fr.positive, "negative": fr.negative, "agree": fr.agree,
        "count": valid.sum("realization"), "robustness": cats,
    }, cats


def check(base, cases_path):
    with open(cases_path) as f:
        cases = json.load(f)
    stats = "mean,std,min,max,median,p10,p25,p75,p90,count"
    for case in cases:
        eid, var, files = case["ensemble"], case["variable"], case["files"]
        ens = ensemble(files, var)
        # Statistics per cell and year over a span every member covers.
        years = case["years"]
        sub = ens.sel(time=slice(str(years[0]), str(years[1])))
        ref = stats_reference(sub)
        bbox = case["bbox"]
        doc = get(f"{base}/collections/{eid}/cube?bbox={bbox}&parameter-name={var}&statistic={stats}"
                  f"&datetime={years[0]}-01-01/{years[1]}-12-30")
        for s, want in ref.items():
            compare(f"{eid} cube {var}.{s}", grid_values(doc, f"{var}.{s}"), want.transpose("time", "lat", "lon").values)
        # The same at a point (the nearest cell), as a CSV-free CoverageJSON series.
        lon, lat = case["point"]
        doc = get(f"{base}/collections/{eid}/position?coords=POINT({lon}%20{lat})&parameter-name={var}"
                  f"&statistic={stats}&datetime={years[0]}-01-01/{years[1]}-12-30")
        at = dict(lat=lat, lon=lon, method="nearest")
        for s, want in ref.items():
            compare(f"{eid} position {var}.{s}", grid_values(doc, f"{var}.{s}").ravel(), want.sel(**at).values)
        # The change signal and robustness per cell.
        b, p = case["baseline"], case["period"]
        doc = get(f"{base}/collections/{eid}/cube?bbox={bbox}&parameter-name={var}"
                  f"&baseline={b[0]}/{b[1]}&period={p[0]}/{p[1]}&statistic=p10,median,p90")
        want, cats = change_reference(ens, b, p)
        for s, w in want.items():
            compare(f"{eid} change {var}.{s}", grid_values(doc, f"{var}.{s}"), w.transpose("lat", "lon").values)
        enc = doc["parameters"][f"{var}.robustness"]["categoryEncoding"]
        assert enc == {"robust": 1, "no-change": 2, "conflicting": 3}, enc
        reached = sorted({int(v) for v in np.unique(cats.values) if np.isfinite(v)})
        print(f"ok   {eid} robustness categories reached: {reached}")
        if case.get("all_categories"):
            assert reached == [1, 2, 3], f"not every category is reached: {reached}"
        left = doc["hub:ensemble"]["left_out"]
        for m in case.get("left_out", []):
            assert any(l["member"] == m and "2071" in l["reason"] for l in left), f"{m} is not listed as left out: {left}"
            print(f"ok   {eid} {m} left out: {[l['reason'] for l in left if l['member'] == m][0]}")
        # A registered region: member means with the hub's weights first, then across members.
        if case.get("region"):
            loc, member0 = case["region"], case["datasets"][0]
            weights = get(f"{base}/collections/{member0}/locations/{loc}/weights")
            cells = weights["cells"]
            w = np.zeros((len(ens.lat), len(ens.lon)))
            for c in cells:
                w[c["j"], c["i"]] = c["area_m2"]
            rs = region_means(files, var, w)
            rsub = rs.sel(time=slice(str(years[0]), str(years[1])))
            doc = get(f"{base}/collections/{eid}/locations/{loc}?parameter-name={var}&statistic={stats}"
                      f"&datetime={years[0]}-01-01/{years[1]}-12-30")
            for s, want in stats_reference(rsub).items():
                compare(f"{eid} region {loc} {var}.{s}", np.ravel(doc["ranges"][f"{var}.{s}"]["values"]).astype("f8"),
                        want.values)
            doc = get(f"{base}/collections/{eid}/locations/{loc}?parameter-name={var}"
                      f"&baseline={b[0]}/{b[1]}&period={p[0]}/{p[1]}&statistic=p10,median,p90")
            want, _ = change_reference(rs, b, p)
            for s, w_ in want.items():
                got = np.array([np.nan if v is None else v for v in doc["ranges"][f"{var}.{s}"]["values"]], dtype="f8")
                compare(f"{eid} region {loc} change {var}.{s}", got, np.ravel(w_.values))


def region_means(files, var, w):
    import xarray as xr
    from xclim import ensembles

    out = []
    for f in files:
        da = xr.open_dataset(f, use_cftime=True)[var].astype("f8")
        vals = da.values
        ok = np.isfinite(vals)
        num = (np.where(ok, vals, 0.0) * w).sum(axis=(1, 2))
        den = (ok * w).sum(axis=(1, 2))
        series = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        out.append(xr.Dataset({var: ("time", series)}, coords={"time": da.time}))
    return ensembles.create_ensemble(out)[var]


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
