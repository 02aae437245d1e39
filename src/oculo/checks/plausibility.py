"""Plausibility: values that are well-formed but cannot be right (30 February, a date ten years ahead,
a currency no one issues, a due date before the invoice)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from .numbers import Finding

__all__ = ["ISO_4217", "OLDEST", "check_plausibility"]

# Active ISO 4217 codes (list one, 2024), funds and precious-metal codes included; written out so the
# check needs no network and no data package.
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
""".split())
# Withdrawn since 1990 but printed on the older documents people still process (a 2014 Croatian invoice
# is in HRK): accepted, since the document's own date is what counts.
_WITHDRAWN = frozenset("""
ATS BEF BYR CUC CYP DEM EEK ESP FIM FRF GRD GHC HRK IEP ITL LTL LUF LVL MRO MTL NLG PTE ROL SIT SKK STD
TMM TRL VEB VEF ZMK ZWD MZM
""".split())
_SYMBOLS = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "RS": "INR",
            "ZŁ": "PLN", "ZL": "PLN", "FR": "CHF", "KR": "SEK/NOK/DKK", "R$": "BRL", "₽": "RUB", "₺": "TRY"}
OLDEST = date(1990, 1, 1)  # before electronic invoicing was common: a date this old is a misread year
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")


def check_date(path: str, value: Any, today: date, out: list[Finding]) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        out.append((path, "invalid_date", f"{value!r} is not a date in YYYY-MM-DD form"))
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        out.append((path, "invalid_date", f"{value} is not a calendar date"))
        return None
    if d > today + timedelta(days=365):
        out.append((path, "future_date", f"{value} is more than a year after today ({today.isoformat()})"))
    elif d < OLDEST:
        out.append((path, "old_date", f"{value} is before {OLDEST.year}; a misread year?"))
    return d


def check_plausibility(rec: dict[str, Any], *, date_fields: tuple[str, ...], today: date | None = None,
                       credit_note: bool = False) -> tuple[list[Finding], int]:
    out: list[Finding] = []
    n = 0
    today = today or date.today()
    dates: dict[str, date | None] = {}
    for name in date_fields:
        if rec.get(name) not in (None, ""):
            n += 1
            dates[name] = check_date(name, rec[name], today, out)
    issue, due = dates.get("issue_date"), dates.get("due_date")
    if issue and due:
        n += 1
        if due < issue:
            out.append(("due_date", "due_before_issue", f"due date {due} is before the issue date {issue}"))

    cur = rec.get("currency")
    if cur not in (None, ""):
        n += 1
        code = str(cur).strip().upper()
        if code not in ISO_4217 and code not in _WITHDRAWN:
            hint = _SYMBOLS.get(code)
            fix = f"; write the ISO code ({hint})" if hint else "; expected an ISO 4217 code such as EUR or USD"
            out.append(("currency", "unknown_currency", f"{cur!r} is not an ISO 4217 currency code{fix}"))

    t = rec.get("time")
    if t not in (None, ""):
        n += 1
        if not (isinstance(t, str) and _TIME.fullmatch(t.strip())):
            out.append(("time", "invalid_time", f"{t!r} is not a time of day as HH:MM"))

    total = rec.get("total")
    if isinstance(total, float) and not credit_note:
        n += 1
        if total < 0:
            msg = f"the total is negative ({total:,.2f}); right only for a credit note or refund"
            out.append(("total", "negative_total", msg))
    return out, n
