"""Drop-in, Rust-accelerated `RunStatus` and `Status` for IQM's Python client.

Replace ``from iqm.iqm_client import RunStatus, Status`` with
``from iqm_runstatus import RunStatus, Status``: the same objects and errors, parsed in Rust.
`StatusBatch`, `parse_many` and `JobTracker` parse many payloads at once.
"""

from ._batch import PayloadError, parse_many
from ._core import JobTracker, StatusBatch
from ._model import NATIVE, RunStatus, Status, pure_from_dict, pure_from_json

__all__ = [
    "NATIVE",
    "JobTracker",
    "PayloadError",
    "RunStatus",
    "Status",
    "StatusBatch",
    "parse_many",
    "pure_from_dict",
    "pure_from_json",
]
__version__ = "0.1.0"
