"""Schemas for extraction: the built-in invoice and receipt, a JSON Schema file, or your own pydantic model."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import InputError
from .invoice import Invoice, LineItem, TaxLine
from .receipt import Receipt, ReceiptItem

__all__ = ["BUILTIN", "Invoice", "LineItem", "Receipt", "ReceiptItem", "TaxLine", "resolve_schema"]

BUILTIN: dict[str, type[BaseModel]] = {"invoice": Invoice, "receipt": Receipt}
_FIX = "use invoice, receipt, a JSON Schema file, or module:Class for a pydantic model"


def resolve_schema(spec: str) -> tuple[dict[str, Any], type[BaseModel] | None, str]:
    """(JSON schema, pydantic class or None, name) for a schema given on the command line or in code."""
    spec = str(spec).strip()
    if spec.lower() in BUILTIN:
        cls = BUILTIN[spec.lower()]
        return cls.model_json_schema(), cls, spec.lower()
    path = Path(spec).expanduser()
    if path.is_file() or spec.lower().endswith(".json"):
        return _from_file(spec, path), None, _name(path)
    if ":" in spec and not path.exists():
        cls = _import_class(spec)
        try:
            schema = cls.model_json_schema()
        except Exception as e:  # a field type pydantic cannot express as JSON Schema
            raise InputError(f"{spec}: cannot build a JSON schema from the model ({_one_line(e)}); "
                             "use JSON-serialisable field types") from None
        return schema, cls, cls.__name__
    raise InputError(f"{spec}: not a known schema or an existing file; {_FIX}")


def _name(path: Path) -> str:
    stem = path.name[:-5] if path.name.lower().endswith(".json") else path.stem
    return stem[:-7] if stem.lower().endswith(".schema") else stem  # form.schema.json -> form


def _one_line(e: BaseException) -> str:
    return " ".join(str(getattr(e, "message", None) or e).split())


def _from_file(spec: str, path: Path) -> dict[str, Any]:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import Draft202012Validator, validator_for

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{spec}: no such schema file; check the path or {_FIX}") from None
    except OSError as e:
        raise InputError(f"{spec}: cannot read the schema file ({e.strerror}); check its permissions") from None
    except UnicodeDecodeError:
        raise InputError(f"{spec}: not a text file; pass a JSON Schema saved as UTF-8") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{spec}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno}); "
                         "fix the schema file") from None
    if not isinstance(schema, dict):
        raise InputError(f"{spec}: a JSON Schema is a JSON object, this file holds a "
                         f"{type(schema).__name__}; wrap the fields in {{\"type\": \"object\", ...}}")
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as e:
        where = "/".join(map(str, e.path)) or "top level"
        raise InputError(f"{spec}: not a valid JSON Schema at {where} ({_one_line(e)}); "
                         "fix the schema file") from None
    return schema


def _import_class(spec: str) -> type[BaseModel]:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise InputError(f"{spec}: expected module:Class, e.g. myschemas:Invoice; {_FIX}")
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:  # `oculo extract --schema forms:Form` from the folder holding forms.py, as people expect
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(f"{spec}: cannot import module {module_name} ({_one_line(e)}); run from the folder "
                         "that holds it or install it") from None
    except Exception as e:
        raise InputError(f"{spec}: importing {module_name} failed ({type(e).__name__}: {_one_line(e)}); "
                         "fix the module") from None
    finally:
        if added:
            try:
                sys.path.remove(cwd)
            except ValueError:
                pass
    cls: Any = module
    for part in attr.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise InputError(f"{spec}: module {module_name} has no {attr}; check the class name")
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise InputError(f"{spec}: {attr} is not a pydantic model; subclass pydantic.BaseModel or pass a "
                         "JSON Schema file")
    return cls
