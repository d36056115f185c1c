"""Storage providers by name, imported lazily so an optional SDK loads only when chosen."""

from __future__ import annotations

import importlib

from signalrisk.core.errors import InternalError
from signalrisk.storage.base import ObjectStore

# name -> "module:Class"; a provider module may import an optional SDK at its top.
STORE_PROVIDERS: dict[str, str] = {
    "local": "signalrisk.storage.localdir:LocalDirectoryStore",
    "s3": "signalrisk.storage.s3:S3Store",
    "lambda": "signalrisk.storage.lambda_store:LambdaStore",
}

_EXTRAS: dict[str, str] = {"s3": "aws", "lambda": "aws"}


def object_store(name: str, **kwargs: object) -> ObjectStore:
    """Build the store registered as ``name`` with ``kwargs`` (e.g. ``root=`` for ``local``).

    Raises :class:`InternalError` for an unknown name (listing the valid ones) or when the
    provider's optional dependency is not installed (with the command that installs it).
    """
    try:
        target = STORE_PROVIDERS[name]
    except KeyError:
        valid = ", ".join(sorted(STORE_PROVIDERS))
        raise InternalError(f"unknown storage provider {name!r}; valid: {valid}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name, name)
        raise InternalError(
            f"storage provider {name!r} needs a missing dependency ({exc.name}); "
            f"install it with: pip install 'signalrisk[{extra}]'"
        ) from exc
    store = getattr(module, class_name)(**kwargs)
    if not isinstance(store, ObjectStore):
        raise InternalError(f"{target} does not implement ObjectStore")
    return store
