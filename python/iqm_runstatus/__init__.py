"""Drop-in, Rust-accelerated `RunStatus` and `Status` for IQM's Python client.

Replace ``from iqm.iqm_client import RunStatus, Status`` with
``from iqm_runstatus import RunStatus, Status``: the same objects and errors, parsed in Rust.
"""

from ._model import NATIVE, RunStatus, Status, pure_from_dict, pure_from_json

__all__ = ["NATIVE", "RunStatus", "Status", "pure_from_dict", "pure_from_json"]
__version__ = "0.1.0"
