"""Deployment asset size: the function's code as CDK ships it, unzipped and zipped.

With a ``cdk.out/`` from a synth, the measured directory is the function's asset there (found
through ``*.assets.json``, display name ``.../Function/Code``); otherwise lambda_src is copied with
the stack's ASSET_EXCLUDES (infra/constants.py), which is what ``Code.from_asset`` puts in it.
Zipped with deflate at zlib's default level. Powertools is a public layer and boto3 comes with the
runtime, so neither is in the asset.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from bench import common


def _cdk_asset() -> Path | None:
    cdk_out = common.REPO / "cdk.out"
    for manifest in sorted(cdk_out.glob("*.assets.json")):
        for entry in json.loads(manifest.read_text()).get("files", {}).values():
            source = entry.get("source", {})
            if entry.get("displayName", "").endswith("Function/Code") and source.get("packaging") == "zip":
                path = cdk_out / source["path"]
                if path.is_dir():
                    return path
    return None


def measure() -> dict[str, Any]:
    source = _cdk_asset()
    origin = "cdk.out (synth)" if source else "lambda_src with the stack's ASSET_EXCLUDES"
    if source is None:
        source = common.build_asset("asset")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(source).as_posix())
    largest = sorted(files, key=lambda p: -p.stat().st_size)[:3]
    return {
        "origin": origin,
        "files": len(files),
        "unzipped_bytes": sum(p.stat().st_size for p in files),
        "zipped_bytes": len(buffer.getvalue()),
        "largest": [{"file": p.relative_to(source).as_posix(), "bytes": p.stat().st_size} for p in largest],
        "stray": [p.relative_to(source).as_posix() for p in files if p.suffix != ".py"],
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
