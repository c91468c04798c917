"""Drop-in, Rust-accelerated `RunStatus` and `Status` for IQM's Python client.

Replace ``from iqm.iqm_client import RunStatus, Status`` with
``from iqm_runstatus import RunStatus, Status``: the same objects and errors, parsed in Rust.
`StatusBatch`, `parse_many` and `JobTracker` parse many payloads at once, and export to Arrow
(`ArrowSnapshot`); `StatusPoller` polls the server for many jobs from Rust threads.
`iqm_runstatus.dask` counts archives of NDJSON files on a Dask cluster.

Which iqm-client release's `Status` and `RunStatus` are mirrored (any from 15.0 to 32.1.1) is
chosen once, at import: the release named by the ``IQM_RUNSTATUS_CLIENT_RELEASE`` environment
variable if set; else the installed iqm-client's, read from its distribution metadata (the
client is not imported); else 17.2's. `CLIENT_RELEASE` names that release and
`CLIENT_RELEASE_SOURCE` says how it was chosen (``"environment"``, ``"installed"`` or
``"default"``). ``models_for_release("24.3.0")`` returns another release's ``RunStatus, Status``
in the same process: classes of their own, on the pure-Python path. The batch tools and the
poller parse 17.2's five statuses only, for now.
"""

from typing import TYPE_CHECKING, Any

from ._model import (
    CLIENT_RELEASE,
    CLIENT_RELEASE_SOURCE,
    NATIVE,
    ClientModels,
    RunStatus,
    Status,
    models_for_release,
    pure_from_dict,
    pure_from_json,
)
from ._patch import (
    iqm_client_patched,
    patch_iqm_client,
    patched_iqm_client,
    unpatch_iqm_client,
)
from ._records import TrackerError, Transition

if NATIVE or TYPE_CHECKING:
    from ._batch import PayloadError, parse_many
    from ._core import ArrowSnapshot, JobTracker, StatusBatch
    from ._poller import StatusPoller
else:

    def __getattr__(name: str) -> Any:
        # With IQM_RUNSTATUS_PURE set the core is loaded only once a batch tool is asked for.
        if name in ("ArrowSnapshot", "JobTracker", "PayloadError", "StatusBatch", "parse_many"):
            from . import _batch, _core

            return getattr(_batch if hasattr(_batch, name) else _core, name)
        if name == "StatusPoller":
            from ._poller import StatusPoller

            return StatusPoller
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLIENT_RELEASE",
    "CLIENT_RELEASE_SOURCE",
    "NATIVE",
    "ArrowSnapshot",
    "ClientModels",
    "JobTracker",
    "PayloadError",
    "RunStatus",
    "Status",
    "StatusBatch",
    "StatusPoller",
    "TrackerError",
    "Transition",
    "iqm_client_patched",
    "models_for_release",
    "parse_many",
    "patch_iqm_client",
    "patched_iqm_client",
    "pure_from_dict",
    "pure_from_json",
    "unpatch_iqm_client",
]
__version__ = "0.1.0"
