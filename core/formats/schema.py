"""The schema of an imported file's attribute values, checked before anything is written.

An attribute that the app later trusts (a time it formats, a result's error it renders, a rich
output it looks up) must have the type and range the app expects; otherwise one bad file would
break the sessions list or crash the app every time that session is opened. Every check here
raises `SchemaError` with the reason; the reader adds `file:line:col` and refuses the file whole.

- times (`at`, `created`): finite numbers of seconds since 1970, before the year 10000;
- `data` (JSON): an object, at most `MAX_DEPTH` levels deep, no NaN or infinities; for a
  `<result>`: `error` null or an object with string `name` and `value` and a `traceback` that is a
  string or a list of strings; `outputs` a list of objects with a string `mime` and a string
  `text` or `blob` (or an integer `size`); `execution_count` an integer or null; `duration` a
  finite number >= 0 or null; `truncated` an integer >= 0; `meta` an object; for a `<thought>`:
  `raw` a string or null, `meta` an object; for a `<kernel>`: `meta` an object.

It also holds what the reader and the recovery both know of the format: the element names
inside `<events>` (`KNOWN`) and `XmlImportError`, the refusal of a whole file.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_TIME = 253_402_300_799.0
"""The last second of the year 9999: what datetime (and so every time shown) can handle."""
MAX_DEPTH = 32
KNOWN = {"msg", "thought", "action", "code", "answer", "result", "resume_from", "kernel"}
"""The elements inside `<events>`."""


class XmlImportError(ValueError):
    """A file that cannot be imported; the message starts with `file:line:col:`."""


class SchemaError(ValueError):
    """An attribute value of the wrong type or out of range."""


def check_time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise SchemaError(f"{name}={value!r} is not a number") from None
    if not math.isfinite(number) or not 0 <= number <= MAX_TIME:
        raise SchemaError(
            f"{name}={value!r} is not a time: expected seconds since 1970, before the year 10000"
        )
    return number


def _no_constant(name: str) -> Any:
    raise SchemaError(f"{name} is not allowed in data (only finite numbers)")


def load_data(text: str | None) -> dict[str, Any]:
    """The `data` attribute as a JSON object, or `SchemaError`."""
    try:
        data = json.loads(text or "{}", parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise SchemaError(f"data attribute is not valid JSON: {error}") from None
    except RecursionError:
        raise SchemaError(f"data attribute is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise SchemaError(f"data attribute must be a JSON object, not {type(data).__name__}")
    if _depth(data) > MAX_DEPTH:
        raise SchemaError(f"data attribute is nested deeper than {MAX_DEPTH} levels")
    return data


def _depth(value: Any) -> int:
    """How deeply `value` nests, without recursion (a hostile file may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise SchemaError("data holds a number too large to be finite")
    return deepest


def _want(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise SchemaError(f"data: {key} must be {expected}, not {json.dumps(value)[:60]}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_meta(data: dict[str, Any]) -> None:
    meta = data.get("meta", {})
    _want(isinstance(meta, dict), "meta", "an object", meta)


def check_result(data: dict[str, Any]) -> None:
    check_meta(data)
    error = data.get("error")
    if error is not None:
        _want(isinstance(error, dict), "error", "an object or null", error)
        for key in ("name", "value"):
            _want(isinstance(error.get(key, ""), str), f"error.{key}", "a string", error.get(key))
        trace = error.get("traceback", [])
        _want(
            isinstance(trace, str)
            or (isinstance(trace, list) and all(isinstance(t, str) for t in trace)),
            "error.traceback",
            "a string or a list of strings",
            trace,
        )
    outputs = data.get("outputs", [])
    _want(isinstance(outputs, list), "outputs", "a list", outputs)
    for index, entry in enumerate(outputs):
        key = f"outputs[{index}]"
        _want(isinstance(entry, dict), key, "an object", entry)
        _want(isinstance(entry.get("mime"), str), f"{key}.mime", "a string", entry.get("mime"))
        for field in ("text", "blob"):
            if field in entry:
                _want(isinstance(entry[field], str), f"{key}.{field}", "a string", entry[field])
        if "size" in entry:
            _want(_is_int(entry["size"]), f"{key}.size", "an integer", entry["size"])
    count = data.get("execution_count")
    _want(count is None or _is_int(count), "execution_count", "an integer or null", count)
    duration = data.get("duration")
    _want(
        duration is None
        or (isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0),
        "duration",
        "a number of seconds >= 0 or null",
        duration,
    )
    truncated = data.get("truncated", 0)
    _want(_is_int(truncated) and truncated >= 0, "truncated", "an integer >= 0", truncated)


def check_turn(data: dict[str, Any]) -> None:
    check_meta(data)
    raw = data.get("raw")
    _want(raw is None or isinstance(raw, str), "raw", "a string or null", raw)
