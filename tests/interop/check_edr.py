"""Validates the hub's EDR metadata with KNMI's edr-pydantic models.

Usage: check_edr.py BASE_URL

Fetches the landing page, the conformance classes, /collections, every
collection, and, for collections with forecast runs, their /instances and
every instance, and validates each as edr-pydantic's model of it (strict: no
field the standard does not have, no empty strings, times with offsets).
Prints one line per resource; exits 1 on any failure.
"""

import json
import sys
import urllib.request

from edr_pydantic.capabilities import ConformanceModel, LandingPageModel
from edr_pydantic.collections import Collection, Collections, Instance, Instances

failures = []


def get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def check(label, model, body):
    try:
        model.model_validate_json(body)
        print(f"ok   {label}")
    except Exception as e:  # pydantic's ValidationError, or JSON
        failures.append(label)
        print(f"FAIL {label}: {e}")


def main():
    base = sys.argv[1].rstrip("/")
    check("/", LandingPageModel, get(f"{base}/"))
    check("/conformance", ConformanceModel, get(f"{base}/conformance"))
    body = get(f"{base}/collections")
    check("/collections", Collections, body)
    for c in json.loads(body)["collections"]:
        cid = c["id"]
        check(f"/collections/{cid}", Collection, get(f"{base}/collections/{cid}"))
        if any(link.get("rel") == "instances" for link in c["links"]):
            body = get(f"{base}/collections/{cid}/instances")
            check(f"/collections/{cid}/instances", Instances, body)
            for i in json.loads(body)["instances"]:
                check(f"/collections/{cid}/instances/{i['id']}", Instance,
                      get(f"{base}/collections/{cid}/instances/{i['id']}"))
            check(f"/collections/{cid}/instances/latest", Instance, get(f"{base}/collections/{cid}/instances/latest"))
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)


if __name__ == "__main__":
    main()
