"""The peer of the hub's storage upkeep: Python icechunk on a copy of the same
repository, expiring every snapshot older than now and collecting what is no
longer referenced. Prints "<seconds> <chunks deleted>".

usage: gc_peer.py REPOSITORY_FOLDER
"""
import datetime
import sys
import time

import icechunk

repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
t = time.perf_counter()
now = datetime.datetime.now(datetime.timezone.utc)
repo.expire_snapshots(older_than=now)
summary = repo.garbage_collect(delete_object_older_than=now)
print(f"{time.perf_counter() - t:.6f} {summary.chunks_deleted}")
