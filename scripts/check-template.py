"""Checks on template.yaml that cfn-lint does not make (it validates
CloudFormation, not our workspace): every function's build points at
something that exists, runtimes are what the binaries are built for,
references inside Serverless resources name real resources or parameters,
every environment variable a function is given is one the code reads, and
the backfill's Map items (built by its ItemSelector from an S3 listing) are
events the route function understands.

Usage: check-template.py [template.yaml]   (run by scripts/test.sh)
"""
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def construct(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag(suffix, value)


yaml.SafeLoader.add_multi_constructor("!", construct)


def refs(node):
    """Names referenced by !Ref, !GetAtt and ${...} in !Sub."""
    if isinstance(node, Tag):
        if node.tag == "Ref":
            yield node.value
        elif node.tag == "GetAtt":
            yield (node.value.split(".")[0] if isinstance(node.value, str) else node.value[0])
        elif node.tag == "Sub":
            text = node.value if isinstance(node.value, str) else node.value[0]
            local = set(node.value[1]) if isinstance(node.value, list) and len(node.value) > 1 else set()
            for name in re.findall(r"\$\{([A-Za-z0-9:]+)", text):
                if name not in local:
                    yield name
            if isinstance(node.value, list):
                yield from refs(node.value[1:])
        else:
            yield from refs(node.value)
    elif isinstance(node, dict):
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def workspace_bins():
    bins = {}
    for toml in (ROOT / "functions").glob("*/Cargo.toml"):
        text = toml.read_text()
        for name in re.findall(r'\[\[bin\]\]\s*\nname\s*=\s*"([^"]+)"', text):
            bins[name] = toml.parent
    return bins


def code_reads(var):
    for path in list((ROOT / "functions").rglob("*.rs")) + list((ROOT / "shared").rglob("*.rs")):
        if f'"{var}"' in path.read_text():
            return True
    return False


def render_selector(node, context):
    """A Step Functions ItemSelector applied to one item: "key.$" fields take
    the value at their path ($$. context paths, dotted names only)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k.endswith(".$"):
                value = context
                for part in v.removeprefix("$$.").split("."):
                    value = value[part]
                out[k[:-2]] = value
            else:
                out[k] = render_selector(v, context)
        return out
    return node


# What the route function reads from an EventBridge event (hub_store::events::from_eventbridge).
ROUTE_READS = {"source": str, "detail-type": str, "detail.bucket.name": str, "detail.object.key": str,
               "detail.object.size": int, "detail.object.etag": str}


def backfill_items_reach_route(name, res):
    """The backfill's items, as its ItemSelector builds them from an S3 listing,
    carry what the route function reads from an EventBridge event, with the
    values of the sample in events/."""
    errors = []
    sample = json.loads((ROOT / "events/eventbridge-object-created.json").read_text())
    states = res.get("Properties", {}).get("Definition", {}).get("States", {})
    for state_name, state in states.items():
        selector = state.get("ItemSelector")
        if state.get("Type") != "Map" or not selector:
            continue
        obj = sample["detail"]["object"]
        item = {"Key": obj["key"], "Size": obj["size"], "Etag": f'"{obj["etag"]}"', "StorageClass": "STANDARD"}
        context = {"Execution": {"Input": {"bucket": sample["detail"]["bucket"]["name"], "prefix": "radar/"}},
                   "Map": {"Item": {"Index": 0, "Value": item}}}
        try:
            event = render_selector(selector, context)
        except (KeyError, TypeError) as e:
            errors.append(f"{name}.{state_name}: the ItemSelector reads a path an S3 listing lacks: {e}")
            continue
        for path, kind in ROUTE_READS.items():
            got, want = event, sample
            for part in path.split("."):
                got = got.get(part) if isinstance(got, dict) else None
                want = want[part]
            if not isinstance(got, kind) or (path != "detail.object.etag" and got != want):
                errors.append(f"{name}.{state_name}: items carry {path} = {got!r}, the route function needs {want!r}")
    return errors


def main():
    template = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml")
    doc = yaml.safe_load(template.read_text())
    resources = doc.get("Resources", {})
    known = set(resources) | set(doc.get("Parameters", {})) | {"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::URLSuffix", "AWS::Partition", "AWS::NoValue"}
    bins = workspace_bins()
    errors = []
    for name, res in resources.items():
        for r in refs(res):
            if isinstance(r, str) and r not in known:
                errors.append(f"{name}: references {r!r}, which is neither a resource nor a parameter")
        if res.get("Type") == "AWS::Serverless::StateMachine":
            errors += backfill_items_reach_route(name, res)
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props, meta = res.get("Properties", {}), res.get("Metadata", {})
        if props.get("PackageType") == "Image":
            dockerfile = ROOT / meta.get("Dockerfile", "")
            if not meta.get("Dockerfile") or not dockerfile.is_file():
                errors.append(f"{name}: image function without an existing Metadata.Dockerfile")
        else:
            if props.get("Runtime") != "provided.al2023" or props.get("Handler") != "bootstrap":
                errors.append(f"{name}: zip functions run on provided.al2023 with Handler bootstrap")
            if meta.get("BuildMethod") != "rust-cargolambda":
                errors.append(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
            binary = meta.get("BuildProperties", {}).get("Binary")
            if binary not in bins:
                errors.append(f"{name}: BuildProperties.Binary {binary!r} is not a [[bin]] of functions/*")
        for var in props.get("Environment", {}).get("Variables", {}):
            if var != "RUST_LOG" and not code_reads(var):
                errors.append(f"{name}: environment variable {var} is read nowhere in the code")
        for ev_name, ev in props.get("Events", {}).items():
            kind, p = ev.get("Type"), ev.get("Properties", {})
            if kind == "S3":
                events = p.get("Events")
                events = events if isinstance(events, list) else [events]
                if not all(isinstance(e, str) and e.startswith("s3:") for e in events):
                    errors.append(f"{name}.{ev_name}: S3 event names start with s3:")
            elif kind == "EventBridgeRule":
                pattern = p.get("Pattern", {})
                if pattern.get("source") != ["aws.s3"] or pattern.get("detail-type") != ["Object Created"]:
                    errors.append(f"{name}.{ev_name}: the route function expects S3 Object Created events")
            elif kind == "SQS":
                if "ReportBatchItemFailures" not in p.get("FunctionResponseTypes", []):
                    errors.append(f"{name}.{ev_name}: the ingest function reports batch item failures")
    for e in errors:
        print(f"template: {e}")
    if errors:
        sys.exit(1)
    print(f"template: {sum(1 for r in resources.values() if r.get('Type') == 'AWS::Serverless::Function')} functions checked against the workspace, backfill items against the route function")


if __name__ == "__main__":
    main()
