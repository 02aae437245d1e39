"""The built-in invoice schema, and the field types the receipt schema shares with it.

The JSON schema is what a constrained decoder (xgrammar, Ollama's `format`, llama.cpp grammars) turns into a
grammar, so it stays within what all of them handle: plain types, nullable unions, `$defs`, string patterns
and lengths. Calendar validity and numeric ranges are checked here in pydantic instead of in the schema
(`format: date` and float bounds are ignored or rejected by some decoders). Every property is required and
nullable in the schema, so a model writes each key (null when absent) instead of skipping ones it is unsure
of; pydantic itself still accepts a record with keys missing, as people and other tools write them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from .numbers import parse_number

__all__ = ["DATE_PATTERN", "Currency", "Invoice", "IsoDate", "LineItem", "Number", "Percent", "TaxLine"]

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _grammar_friendly(schema: dict[str, Any], cls: type) -> None:
    schema["required"] = list(schema.get("properties", {}))
    schema["additionalProperties"] = False


class Record(BaseModel):
    # Unknown keys are dropped rather than refused: extractions come from models and other tools too.
    model_config = ConfigDict(extra="ignore", json_schema_extra=_grammar_friendly)


def _number(value: Any) -> Any:
    try:
        return parse_number(value)
    except ValueError:
        return value  # let pydantic report it with the field's name


def _percent(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 100:
        raise ValueError("a percentage between 0 and 100 (21 for 21%)")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 10 and value[10] in "T ":  # a datetime: the day is what was printed
            value = value[:10]
    return value


def _calendar_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a calendar date") from None
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Number = Annotated[float | None, BeforeValidator(_number)]
Percent = Annotated[float | None, BeforeValidator(_number), AfterValidator(_percent)]
# Constraints before the BeforeValidator: in that order pydantic still writes the pattern into the schema.
IsoDate = Annotated[str, StringConstraints(pattern=DATE_PATTERN), BeforeValidator(_iso_date),
                    AfterValidator(_calendar_date)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), BeforeValidator(_upper)]
Identifier = Annotated[str, StringConstraints(max_length=64)]  # bounded: stops a runaway string in a grammar


class LineItem(Record):
    description: str | None = Field(None, max_length=300, description="The item or service as printed on the line.")
    quantity: Number = Field(None, description="Quantity as printed (e.g. 2, 1.5); null if not printed.")
    unit_price: Number = Field(None, description="Price of one unit, as a plain number without currency "
                                                 "symbol or thousands separators.")
    amount: Number = Field(None, description="The line total as printed, as a plain number.")
    tax_rate: Percent = Field(None, description="Tax (VAT/GST) rate of the line in percent: 21 for 21%.")
    discount: Percent = Field(None, description="Discount on the line in percent, if printed (10 for 10%).")


class TaxLine(Record):
    rate: Percent = Field(None, description="Tax rate in percent: 21 for 21%.")
    base: Number = Field(None, description="The amount the tax is computed on (net amount at this rate).")
    amount: Number = Field(None, description="The tax amount at this rate.")


class Invoice(Record):
    """An invoice: who bills whom, for what, and the amounts, copied as printed."""

    vendor: str | None = Field(None, max_length=200, description="Name of the company or person issuing the invoice.")
    vendor_address: str | None = Field(None, max_length=300, description="The issuer's postal address, one line.")
    vendor_tax_id: Identifier | None = Field(None, description="The issuer's VAT / tax identification number "
                                                               "exactly as printed.")
    customer: str | None = Field(None, max_length=200, description="Name of the customer billed.")
    customer_address: str | None = Field(None, max_length=300, description="The customer's billing address, one line.")
    invoice_number: Identifier | None = Field(None, description="The invoice number exactly as printed.")
    issue_date: IsoDate | None = Field(None, description="Invoice date as YYYY-MM-DD.")
    due_date: IsoDate | None = Field(None, description="Payment due date as YYYY-MM-DD; null if not printed.")
    currency: Currency | None = Field(None, description="ISO 4217 currency code, e.g. EUR, USD, GBP, INR.")
    line_items: list[LineItem] = Field(default_factory=list, max_length=500,
                                       description="One entry per billed line, in order.")
    subtotal: Number = Field(None, description="Total before tax (net), as a plain number.")
    tax_lines: list[TaxLine] = Field(default_factory=list, max_length=20,
                                     description="The tax breakdown: one entry per rate.")
    tax_total: Number = Field(None, description="Total tax amount, as a plain number.")
    total: Number = Field(None, description="The amount due, tax included, as a plain number.")
