"""Writes a large ESRI Shapefile of river-basin-like polygons, then runs a
command and reports the most memory it held.

Usage: large_shapefile.py DIR FEATURES VERTICES -- COMMAND...
  writes DIR/basins.{shp,shx,dbf,prj} (FEATURES polygons of VERTICES
  vertices each, a grid of wavy cells over Europe in lon/lat, ids `B<k>`),
  runs COMMAND, prints its output, then `shp_bytes=N peak_rss_kb=M`, and
  exits with its exit code.
"""

import math
import os
import resource
import subprocess
import sys

import shapefile


def main():
    out, features, vertices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    command = sys.argv[sys.argv.index("--") + 1 :]
    side = math.ceil(math.sqrt(features))
    path = os.path.join(out, "basins")
    with shapefile.Writer(path, shapeType=shapefile.POLYGON) as w:
        w.field("id", "C", size=16)
        w.field("name", "C", size=32)
        for k in range(features):
            r, c = divmod(k, side)
            x0, y0, d = -10.0 + c * 0.25, 35.0 + r * 0.25, 0.25
            ring = []
            for v in range(vertices):
                # Round the cell's square clockwise (shapefile outer rings), wavy edges.
                t = 4.0 * v / vertices
                side_k, f = int(t), t - int(t)
                wave = 0.01 * math.sin(40 * math.pi * f)
                x, y = [(x0 + d * f, y0 + d + wave), (x0 + d + wave, y0 + d - d * f), (x0 + d - d * f, y0 + wave), (x0 + wave, y0 + d * f)][side_k]
                ring.append((x, y))
            ring.append(ring[0])
            w.poly([ring])
            w.record(f"B{k}", f"basin {k}")
    with open(path + ".prj", "w") as f:
        f.write('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')
    run = subprocess.run(command, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"shp_bytes={os.path.getsize(path + '.shp')} peak_rss_kb={peak}")
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
