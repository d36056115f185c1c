"""The configuration table of the README, generated from :class:`Settings` so it cannot drift.

``python -m signalrisk.core.settings_table`` prints it; a test checks that the README holds
exactly this table between its ``settings-table`` markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from signalrisk.core.config import Settings

PREFIX = "SIGNALRISK_"
# Read where the work runs rather than from Settings (see quant/var.py), so listed by hand.
EXTRA_ROWS = (
    (
        "SIGNALRISK_KERNEL",
        "auto",
        "Monte Carlo kernel: numba (extra fast), numpy (what Lambda runs) or auto",
    ),
)
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def _default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return f"./{value}"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)


def settings_rows(
    model: type[BaseModel] = Settings, prefix: str = PREFIX
) -> Iterator[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, nested groups flattened
    with ``__`` as pydantic-settings reads them."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from settings_rows(annotation, f"{prefix}{name.upper()}__")
            continue
        yield f"{prefix}{name.upper()}", _default(field), field.description or ""


def settings_table() -> str:
    """The markdown table: variable, default, meaning."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, default, meaning in (*settings_rows(), *EXTRA_ROWS):
        cell = f"`{default}`" if default else ""
        escaped = meaning.replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{variable}` | {cell} | {escaped} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
