"""Scanned-looking pages for the OCR benchmark: synthetic invoices and degraded renders, as a scanner would make them.

    python bench/scanned.py --seeds 0-3 --out /tmp/scans     # writes NAME.pdf + NAME.json (the truth) per seed

`synthetic_invoice(seed)` draws one invoice page (a vendor whose name has spaces and punctuation, an invoice number,
a date, line items, subtotal, VAT and total) in English, German, French or Dutch with that language's number and
date formats, on paper at 300 dpi, and returns it with its true values. `scan(page, rng)` makes it look scanned: shrunk
to 150 dpi, turned 1-2 degrees, blurred, with sensor noise; `save_scan_pdf` stores the pages as JPEG images in an
image-only PDF at 150 dpi (what a scanner's "scan to PDF" writes). Everything is drawn from the seed, so a seed
range is a fixed, reproducible set: tune on one range, report on another.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PAPER_DPI = 300  # drawn at this resolution, then sampled down to the scan's
SCAN_DPI = 150
A4_IN = (8.27, 11.69)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FONTS = [("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"), ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
         ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
         ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf")]

SURNAMES = ["Schmidt", "Müller", "Northwind", "Dubois", "Van der Berg", "O'Neill", "Janssen", "Lefèvre", "Becker",
            "Hoffmann", "Martin", "De Vries", "Fontaine", "Wagner", "Bakker", "Weiß", "Fischer", "Moreau", "Visser"]
NOUNS = ["Traders", "Logistics", "Office Supplies", "Consulting", "Bau", "Haustechnik", "Imprimerie", "Transport",
         "Elektro", "Design Studio", "Software", "Catering", "Druckerei", "Installatietechniek", "Papeterie"]
FORMS = {"en": ["Ltd", "Ltd.", "LLC", "Inc.", "& Co.", "& Sons"], "de": ["GmbH", "& Söhne GmbH", "AG", "GmbH & Co. KG"],
         "fr": ["SARL", "S.A.", "& Fils", "SAS"], "nl": ["B.V.", "& Zn.", "N.V.", "V.O.F."]}
ITEMS = ["Consulting hours", "Office chairs", "Printer paper A4", "Software licence", "Travel expenses",
         "Delivery", "Installation", "Maintenance contract", "Toner cartridges", "Training day", "Design work",
         "Cable set", "Storage boxes"]
LABELS = {
    "en": {"invoice": "INVOICE", "no": ["Invoice no:", "Invoice number:", "Invoice #"],
           "date": ["Invoice date:", "Date:"],
           "due": "Due date:", "desc": "Description", "qty": "Qty", "unit": "Unit price", "amount": "Amount",
           "subtotal": "Subtotal", "vat": "VAT", "total": ["Total", "Total due", "Amount due"], "bill": "Bill to:"},
    "de": {"invoice": "RECHNUNG", "no": ["Rechnungsnr.:", "Rechnungsnummer:"], "date": ["Rechnungsdatum:", "Datum:"],
           "due": "Fällig am:", "desc": "Beschreibung", "qty": "Menge", "unit": "Einzelpreis", "amount": "Betrag",
           "subtotal": "Zwischensumme", "vat": "MwSt.", "total": ["Gesamtbetrag", "Summe", "Gesamt"],
           "bill": "Rechnung an:"},
    "fr": {"invoice": "FACTURE", "no": ["Facture n°", "N° de facture :"], "date": ["Date :", "Date de facture :"],
           "due": "Échéance :", "desc": "Désignation", "qty": "Qté", "unit": "Prix unitaire", "amount": "Montant",
           "subtotal": "Total HT", "vat": "TVA", "total": ["Total TTC", "Net à payer"], "bill": "Client :"},
    "nl": {"invoice": "FACTUUR", "no": ["Factuurnummer:", "Factuurnr.:"], "date": ["Factuurdatum:", "Datum:"],
           "due": "Vervaldatum:", "desc": "Omschrijving", "qty": "Aantal", "unit": "Prijs per stuk",
           "amount": "Bedrag", "subtotal": "Subtotaal", "vat": "BTW", "total": ["Totaal", "Te betalen"],
           "bill": "Factuur aan:"},
}
MONTHS = {"en": "January February March April May June July August September October November December",
          "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
          "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
          "nl": "januari februari maart april mei juni juli augustus september oktober november december"}
CURRENCY = {"en": ["£", "$", "USD", "GBP"], "de": ["EUR", "€"], "fr": ["EUR", "€"], "nl": ["EUR", "€"]}
STREETS = ["Hauptstraße 12", "221B Baker Street", "12 rue de la Paix", "Keizersgracht 104", "Industrieweg 7",
           "45 Harbour Road", "Avenue des Champs 3", "Bahnhofstr. 88"]
CITIES = ["10115 Berlin", "London EC1A 1BB", "75002 Paris", "1015 CJ Amsterdam", "80331 München", "69001 Lyon",
          "Leeds LS1 4AP", "3011 AD Rotterdam"]


def _font(name: str, pt: float, dpi: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), round(pt * dpi / 72))
    raise SystemExit(f"font {name} missing; apt-get install fonts-dejavu-core fonts-liberation")


def money(value: float, lang: str) -> str:
    text = f"{value:,.2f}"
    if lang == "en":
        return text
    if lang == "fr":
        return text.replace(",", " ").replace(".", ",")
    return text.replace(",", "X").replace(".", ",").replace("X", ".")


def date_text(d: dt.date, lang: str, rng: random.Random) -> str:
    month = MONTHS[lang].split()[d.month - 1]
    choices = {"en": [f"{month} {d.day}, {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}",
                      f"{d.day} {month[:3]} {d.year}"],
               "de": [f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day}. {month} {d.year}"],
               "fr": [f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} {month} {d.year}"],
               "nl": [f"{d.day:02d}-{d.month:02d}-{d.year}", f"{d.day} {month} {d.year}"]}[lang]
    return rng.choice(choices)


def vendor_name(rng: random.Random, lang: str) -> str:
    first = rng.choice(SURNAMES)
    if rng.random() < 0.4:
        first = f"{first} & {rng.choice(SURNAMES)}"
    noun = rng.choice(NOUNS) if rng.random() < 0.6 else ""
    forms = [f for f in FORMS[lang] if "&" not in f] if "&" in first else FORMS[lang]
    return " ".join(p for p in (first, noun, rng.choice(forms)) if p)


def invoice_number(rng: random.Random, year: int) -> str:
    n = rng.randint(100, 99999)
    return rng.choice([f"No-{year}-{n:05d}", f"INV-{year}-{n:05d}", f"{year}/{n:05d}", f"F{year}-{n:04d}", str(n)])


def synthetic_invoice(seed: int, dpi: int = PAPER_DPI) -> tuple[Image.Image, dict[str, object]]:
    """One invoice page drawn at `dpi` and its true values (issuer, invoice_number, date, amount, amount_untaxed)."""
    rng = random.Random(seed)
    lang = rng.choice(list(LABELS))
    lab = LABELS[lang]
    regular, bold = rng.choice(FONTS)
    body = rng.choice([8, 9, 9, 10, 11])
    f = _font(regular, body, dpi)
    fb = _font(bold, body, dpi)
    page = Image.new("RGB", (round(A4_IN[0] * dpi), round(A4_IN[1] * dpi)), "white")
    draw = ImageDraw.Draw(page)
    px = dpi / 72  # pixels per point
    margin = round(rng.uniform(45, 70) * px)
    right = page.width - margin
    line = body * 1.6 * px

    issued = dt.date(rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28))
    due = issued + dt.timedelta(days=rng.choice([14, 30, 45]))
    vendor = vendor_name(rng, lang)
    number = invoice_number(rng, issued.year)
    currency = rng.choice(CURRENCY[lang])

    y = margin
    big = _font(bold, rng.choice([13, 14, 16, 18]), dpi)
    draw.text((margin, y), vendor, fill="black", font=big)
    y += round(2.2 * line)
    for text in (rng.choice(STREETS), rng.choice(CITIES)):
        draw.text((margin, y), text, fill="black", font=f)
        y += round(line)
    title = _font(bold, 20, dpi)
    room = right - draw.textlength(lab["invoice"], font=title) - 20 * px  # the title beside the name, or below it
    title_y = margin if margin + draw.textlength(vendor, font=big) < room else y
    draw.text((right - draw.textlength(lab["invoice"], font=title), title_y), lab["invoice"], fill="black", font=title)

    y += round(1.5 * line)
    label_x, value_x = margin, margin + round(110 * px)
    for label, value in ((rng.choice(lab["no"]), number), (rng.choice(lab["date"]), date_text(issued, lang, rng)),
                         (lab["due"], date_text(due, lang, rng))):
        draw.text((label_x, y), label, fill="black", font=f)
        draw.text((value_x, y), value, fill="black", font=f)
        y += round(line)
    y += round(line)
    draw.text((margin, y), lab["bill"], fill="black", font=fb)
    draw.text((margin, y + round(line)), f"{rng.choice(SURNAMES)} {rng.choice(NOUNS)}", fill="black", font=f)
    y += round(3.5 * line)

    cols = [margin, margin + round(250 * px), margin + round(320 * px), right]  # description, qty, unit price, amount
    def row(cells: list[str], font: ImageFont.FreeTypeFont) -> None:
        draw.text((cols[0], y), cells[0], fill="black", font=font)
        for x, text in zip((cols[1] + 30 * px, cols[2] + 90 * px, cols[3]), cells[1:]):  # numbers right-aligned
            draw.text((x - draw.textlength(text, font=font), y), text, fill="black", font=font)

    row([lab["desc"], lab["qty"], lab["unit"], lab["amount"]], fb)
    y += round(line * 1.1)
    draw.line((margin, y, right, y), fill="black", width=max(1, round(px / 2)))
    y += round(0.4 * line)
    subtotal = 0.0
    for item in rng.sample(ITEMS, rng.randint(2, 6)):
        qty = rng.randint(1, 12)
        unit = round(rng.uniform(2, 900), 2)
        subtotal += round(qty * unit, 2)
        row([item, str(qty), money(unit, lang), money(qty * unit, lang)], f)
        y += round(line)
    subtotal = round(subtotal, 2)
    rate = {"en": 20, "de": 19, "fr": 20, "nl": 21}[lang]
    vat = round(subtotal * rate / 100, 2)
    total = round(subtotal + vat, 2)
    y += round(0.5 * line)
    draw.line((cols[2], y, right, y), fill="black", width=max(1, round(px / 2)))
    y += round(0.5 * line)
    for label, value, font in ((lab["subtotal"], subtotal, f), (f"{lab['vat']} {rate}%", vat, f),
                               (rng.choice(lab["total"]), total, fb)):
        draw.text((cols[2] - 40 * px, y), label, fill="black", font=font)
        text = f"{money(value, lang)} {currency}" if len(currency) == 3 else f"{currency}{money(value, lang)}"
        draw.text((right - draw.textlength(text, font=font), y), text, fill="black", font=font)
        y += round(line * 1.2)
    return page, {"issuer": vendor, "invoice_number": number, "date": issued.isoformat(), "amount": total,
                  "amount_untaxed": subtotal, "language": lang}


def scan(page: Image.Image, rng: random.Random, *, paper_dpi: float = PAPER_DPI, dpi: int = SCAN_DPI,
         rotate: int = 0) -> Image.Image:
    """The page as a flatbed scanner at `dpi` would see it: sampled down, skewed 1-2 degrees, soft, noisy, greyish
    paper; `rotate` (90, 180, 270) turns it counter-clockwise, as a page fed in sideways or upside down."""
    gray = page.convert("L")
    size = (round(gray.width * dpi / paper_dpi), round(gray.height * dpi / paper_dpi))
    img = gray.resize(size, Image.Resampling.LANCZOS)
    angle = rng.choice([-1, 1]) * rng.uniform(1.0, 2.0)
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))
    arr = np.asarray(img, dtype=np.float32)
    arr = arr * rng.uniform(0.85, 0.95) + rng.uniform(10, 25)  # grey paper, toner short of black
    arr += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(4, 9), arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")
    return img.rotate(rotate, expand=True) if rotate else img


def save_scan_pdf(pages: list[Image.Image], path: Path, *, dpi: int = SCAN_DPI, quality: int = 70) -> Path:
    """An image-only PDF: each page one JPEG at `dpi` (Pillow writes RGB pages with DCTDecode)."""
    pages[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=pages[1:], quality=quality)
    return path


def make_scanned_invoice(seed: int, folder: Path, *, rotate: int = 0) -> tuple[Path, dict[str, object]]:
    """NAME.pdf (a 150 dpi image-only scan of synthetic invoice `seed`) and its truth, also written as NAME.json."""
    page, values = synthetic_invoice(seed)
    rng = random.Random(seed * 7919 + 1)
    name = f"synthetic-{seed:05d}" + (f"-r{rotate}" if rotate else "")
    pdf = save_scan_pdf([scan(page, rng, rotate=rotate)], folder / f"{name}.pdf", quality=rng.randint(55, 85))
    (folder / f"{name}.json").write_text(json.dumps(values, ensure_ascii=False, indent=1), encoding="utf-8")
    return pdf, values


def seed_range(spec: str) -> list[int]:
    """ "0-19" or "3" or "0-4,100-104" to a list of seeds."""
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-3")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90, 180, 270))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seed_range(args.seeds):
        pdf, values = make_scanned_invoice(seed, args.out, rotate=args.rotate)
        print(pdf, json.dumps(values, ensure_ascii=False))


if __name__ == "__main__":
    main()
