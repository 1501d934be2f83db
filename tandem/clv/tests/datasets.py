"""Where the tests find the public CDNOW data (../shared/datasets beside the project, or an env path)."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATASETS = Path(os.environ.get("TANDEM_SHARED_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))
CDNOW = SHARED_DATASETS / "cdnow"


def cdnow_file(name: str) -> Path:
    """The path of a CDNOW file, or skip the test saying where the data was looked for."""
    path = CDNOW / name
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {path} (set TANDEM_SHARED_DATASETS to the shared datasets folder)")
    return path
