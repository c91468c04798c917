"""Drop-in, Rust-accelerated `RunStatus` and `Status` for IQM's Python client.

Replace ``from iqm.iqm_client import RunStatus, Status`` with
``from iqm_runstatus import RunStatus, Status``: the same objects and errors, parsed in Rust.
"""

from ._model import NATIVE, RunStatus, Status, pure_from_dict, pure_from_json
from ._patch import (
    iqm_client_patched,
    patch_iqm_client,
    patched_iqm_client,
    unpatch_iqm_client,
)

__all__ = [
    "NATIVE",
    "RunStatus",
    "Status",
    "iqm_client_patched",
    "patch_iqm_client",
    "patched_iqm_client",
    "pure_from_dict",
    "pure_from_json",
    "unpatch_iqm_client",
]
__version__ = "0.1.0"
