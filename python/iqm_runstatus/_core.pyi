"""Types of the native core. The functions are used through `RunStatus`'s methods."""

from collections.abc import Callable
from typing import Any, Union

from ._model import RunStatus, Status

# The native functions take their arguments by keyword too, under the names of the pure
# functions they stand in for (`RunStatus.from_dict(inp=...)` works as in the reference).
__all__ = ["from_dict", "from_json", "init", "validate_json", "validate_python"]

_JsonInput = Union[bytes, bytearray, memoryview, str]

def init(
    run_status: type[RunStatus],
    status_enum: type[Status],
    pure_from_dict: Callable[[Any], RunStatus],
    pure_from_json: Callable[[Any], RunStatus],
    pydantic_validate_python: Callable[[Any], RunStatus],
    pydantic_validate_json: Callable[[Any], RunStatus],
) -> None: ...
def from_json(raw: _JsonInput) -> RunStatus: ...
def from_dict(inp: dict[str, Union[str, dict[str, Any]]]) -> RunStatus: ...
def validate_json(json_data: Union[str, bytes, bytearray]) -> RunStatus: ...
def validate_python(obj: Any) -> RunStatus: ...
