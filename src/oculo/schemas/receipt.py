"""The built-in receipt schema: a till receipt or card slip, simpler than an invoice and often with a tip."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from .invoice import Currency, IsoDate, Number, Record

__all__ = ["Receipt", "ReceiptItem"]

Time = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}:[0-9]{2}(:[0-9]{2})?$")]


class ReceiptItem(Record):
    description: str | None = Field(None, max_length=300, description="The item as printed.")
    quantity: Number = Field(None, description="Quantity as printed; null if not printed.")
    unit_price: Number = Field(None, description="Price of one unit, as a plain number.")
    amount: Number = Field(None, description="The line total as printed, as a plain number.")


class Receipt(Record):
    """A receipt: where, when, what was bought and what was paid, copied as printed."""

    merchant: str | None = Field(None, max_length=200, description="Name of the shop, restaurant or company.")
    merchant_address: str | None = Field(None, max_length=300, description="The merchant's address, one line.")
    date: IsoDate | None = Field(None, description="Date of purchase as YYYY-MM-DD.")
    time: Time | None = Field(None, description="Time of purchase as HH:MM (24-hour), if printed.")
    currency: Currency | None = Field(None, description="ISO 4217 currency code, e.g. EUR, USD, GBP.")
    items: list[ReceiptItem] = Field(default_factory=list, max_length=500,
                                     description="One entry per purchased item, in order.")
    subtotal: Number = Field(None, description="Total before tax and tip, as a plain number.")
    tax: Number = Field(None, description="Total tax, as a plain number.")
    tip: Number = Field(None, description="Tip or gratuity, as a plain number; null if none.")
    total: Number = Field(None, description="The amount paid, as a plain number.")
    payment_method: str | None = Field(None, max_length=100, description="How it was paid: cash, card (brand), etc.")
