"""Write the labelled screen data (injection.jsonl, pii.jsonl, secrets.jsonl) deterministically.

Every text is written for Plinth in the styles of the public sources named in README.md;
synthetic identifiers (cards, IBANs, tokens) are made here with the published formats and
check digits, from a fixed seed, so no real person's data or real credential is included.
Obfuscated variants (zero-width characters, homoglyphs, leetspeak, spaced letters,
base64) are derived from the plain attacks by the transforms below.

    python benchmarks/data/screens/generate.py    # rewrites the .jsonl files beside it
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from texts import (
    BENIGN_INJECTION,
    HARD_POSITIVES,
    INJECTIONS,
    PII_NEGATIVES,
    SECRET_NEGATIVES,
)

HERE = Path(__file__).resolve().parent
RNG = random.Random(20261129)

__all__ = ["main"]


def _row(text: str, labels: list[str], source: str, **extra: Any) -> dict[str, Any]:
    return {"text": text, "labels": labels, "source": source, **extra}


# -- obfuscations ----------------------------------------------------------------------

_HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "i": "\u0456", "c": "\u0441",
               "p": "\u0440", "s": "\u0455"}  # fmt: skip


def zero_width(text: str) -> str:
    """Put a zero-width space inside each word of four letters or more."""
    return " ".join(w[:2] + "\u200b" + w[2:] if len(w) > 3 else w for w in text.split(" "))


def homoglyphs(text: str) -> str:
    """Swap Latin letters for Cyrillic look-alikes."""
    return "".join(_HOMOGLYPHS.get(c, c) if RNG.random() < 0.6 else c for c in text)


def leet(text: str) -> str:
    """Write some letters as digits."""
    table = str.maketrans("aeiost", "431057")
    return text.translate(table)


def spaced(text: str) -> str:
    """Spread the letters of the first six words with spaces."""
    words = text.split(" ")
    return "  ".join(" ".join(w) for w in words[:6]) + " " + " ".join(words[6:])


def b64(text: str) -> str:
    """Wrap the attack in base64 inside a harmless-looking sentence."""
    blob = base64.b64encode(text.encode()).decode()
    return f"Here is the configuration blob you asked about: {blob}"


# -- synthetic identifiers ------------------------------------------------------------


def luhn_digit(body: str) -> str:
    """Return the Luhn check digit for ``body``."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(prefix: str, length: int, *, valid: bool = True) -> str:
    """Return a card number with ``prefix`` that passes (or fails) the Luhn check."""
    body = prefix + "".join(RNG.choice(string.digits) for _ in range(length - len(prefix) - 1))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + RNG.randint(1, 9)) % 10)
    return body + check


def spaced_card(number: str, sep: str) -> str:
    """Group a card number by four."""
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


_IBAN_BBAN = {
    "DE": (18, False), "FR": (23, False), "NL": (14, True), "GB": (18, True),
    "ES": (20, False), "IT": (23, True), "BE": (12, False), "CH": (17, False),
}  # fmt: skip


def iban(country: str, *, valid: bool = True) -> str:
    """Return an IBAN of ``country`` with correct (or wrong) check digits, grouped by four."""
    size, letters = _IBAN_BBAN[country]
    bank = "".join(RNG.choice(string.ascii_uppercase) for _ in range(4)) if letters else ""
    bban = bank + "".join(RNG.choice(string.digits) for _ in range(size - len(bank)))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + RNG.randint(1, 50)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def token(alphabet: str, size: int) -> str:
    """Return ``size`` random characters of ``alphabet``."""
    return "".join(RNG.choice(alphabet) for _ in range(size))


ALNUM = string.ascii_letters + string.digits


def injection_rows() -> list[dict[str, Any]]:
    """Plain attacks, their obfuscated variants, hard positives and benign hard negatives."""
    rows = [_row(t, ["injection"], src, category=cat) for cat, src, t in INJECTIONS]
    plain = [r for r in rows if r["category"] in ("instruction-override", "prompt-exfiltration")]
    for i, r in enumerate(plain):
        transform = (zero_width, homoglyphs, leet, spaced, b64)[i % 5]
        rows.append(_row(transform(r["text"]), ["injection"], f"obfuscated ({transform.__name__}) "
                         + r["source"], category="obfuscated"))  # fmt: skip
    rows += [_row(t, ["injection"], src, category="hard") for src, t in HARD_POSITIVES]
    rows += [_row(t, [], src, category="benign") for src, t in BENIGN_INJECTION]
    return rows


def pii_rows() -> list[dict[str, Any]]:
    """Sentences carrying synthetic PII in their published formats, and look-alike negatives."""
    rows: list[dict[str, Any]] = []
    first = ["jane", "li.wei", "a.kowalski", "omar_f", "marie-claire", "t.nguyen", "sam+news"]
    domains = ["example.com", "example.org", "mail.example.net", "corp.example.co.uk"]
    for i in range(24):
        email = f"{RNG.choice(first)}{RNG.randint(1, 99) if i % 3 else ''}@{RNG.choice(domains)}"
        tpl = ["Please send the invoice to {}.", "Contact: {}", "cc {} on the ticket",
               "Reply-To: <{}>", "user {} reset their password yesterday"][i % 5]  # fmt: skip
        rows.append(_row(tpl.format(email), ["pii:email"], "RFC 2606 example domains"))
    phones = [
        "+44 20 7946 0{:03d}", "+1 (555) 010-{:04d}", "555-010-{:04d}", "+49 30 9018{:04d}",
        "+33 1 42 68 {:02d} {:02d}", "(555) 013-{:04d}", "+1 555 014 {:04d}", "+61 2 5550 {:04d}",
    ]  # fmt: skip
    for i in range(24):
        fmt = phones[i % len(phones)]
        n = fmt.count("{")
        number = fmt.format(*[RNG.randint(10, 99) if n > 1 else RNG.randint(0, 999)] * n)
        tpl = ["Call me on {} after five.", "Phone: {}", "reach the on-call at {}",
               "Her mobile is {}."][i % 4]  # fmt: skip
        rows.append(_row(tpl.format(number), ["pii:phone"], "Ofcom drama / NANP 555-01xx"))
    prefixes = [("4", 16), ("51", 16), ("2221", 16), ("37", 15), ("6011", 16), ("35", 16)]
    for i in range(24):
        prefix, length = prefixes[i % len(prefixes)]
        number = card(prefix, length)
        shown = [number, spaced_card(number, " "), spaced_card(number, "-")][i % 3]
        tpl = ["Card number {} exp 09/29", "charge {} for the renewal", "pay with {}",
               "CC: {}"][i % 4]  # fmt: skip
        rows.append(_row(tpl.format(shown), ["pii:credit-card"], "ISO/IEC 7812 IIN + Luhn"))
    for i, country in enumerate(list(_IBAN_BBAN) * 2):
        tpl = ["Wire it to IBAN {}.", "Bank account: {}", "IBAN: {} (BIC on file)"][i % 3]
        rows.append(_row(tpl.format(iban(country)), ["pii:iban"], "ISO 13616 / SWIFT registry"))
    for i in range(16):
        ssn = f"{RNG.choice([RNG.randint(1, 665), RNG.randint(667, 899)]):03d}-" \
              f"{RNG.randint(1, 99):02d}-{RNG.randint(1, 9999):04d}"  # fmt: skip
        tpl = ["SSN {} on the W-4", "social security number: {}", "Applicant SSN: {}"][i % 3]
        rows.append(_row(tpl.format(ssn), ["pii:us-ssn"], "SSA SSN randomization rules"))
    nets = ["192.0.2.{}", "198.51.100.{}", "203.0.113.{}", "10.20.{}.7", "172.16.4.{}"]
    for i in range(15):
        ip = nets[i % len(nets)].format(RNG.randint(1, 254))
        tpl = ["Login from {} was blocked.", "client_ip={}", "ssh admin@{} failed"][i % 3]
        rows.append(_row(tpl.format(ip), ["pii:ip-address"], "RFC 5737 documentation ranges"))
    rows += [_row(t, [], src) for src, t in PII_NEGATIVES]
    for i in range(15):  # numbers that look like cards but fail Luhn, and bad IBANs
        number = card(prefixes[i % len(prefixes)][0], 16, valid=False)
        rows.append(_row(f"Order reference {spaced_card(number, ' ')} shipped", [], "Luhn fails"))
    for country in _IBAN_BBAN:
        rows.append(_row(f"Ref {iban(country, valid=False)}", [], "IBAN mod 97 fails"))
    return rows


def secret_rows() -> list[dict[str, Any]]:
    """Synthetic credentials in the issuers' documented shapes, in config and code contexts."""
    up = string.ascii_uppercase + "234567"
    shapes: list[tuple[str, Callable[[], str]]] = [
        ("aws-access-key", lambda: "AKIA" + token(up, 16)),
        ("github-token", lambda: "ghp_" + token(ALNUM, 36)),
        ("github-token", lambda: "github_pat_" + token(ALNUM + "_", 82)),
        ("gitlab-token", lambda: "glpat-" + token(ALNUM + "-_", 20)),
        ("slack-token", lambda: f"xoxb-{RNG.randint(10**10, 10**11)}-" + token(ALNUM, 24)),
        ("api-key", lambda: "sk-proj-" + token(ALNUM + "-_", 48)),
        ("api-key", lambda: "sk_live_" + token(ALNUM, 24)),
        ("api-key", lambda: "AIza" + token(ALNUM + "-_", 35)),
        ("jwt", lambda: "eyJhbGciOiJIUzI1NiJ9.eyJ" + token(ALNUM, 40) + "." + token(ALNUM, 43)),
    ]
    contexts = ["export TOKEN={}", "token: \"{}\"", "curl -H 'Authorization: Bearer {}'",
                "client = Client(key=\"{}\")", "the key {} was pasted in chat",
                "[default]\nvalue = {}"]  # fmt: skip
    rows: list[dict[str, Any]] = []
    for i in range(63):
        category, make = shapes[i % len(shapes)]
        rows.append(_row(contexts[i % len(contexts)].format(make()), [f"secrets:{category}"],
                         "issuer-documented token formats"))  # fmt: skip
    for i in range(6):
        body = "\n".join(token(ALNUM + "+/", 64) for _ in range(4))
        kind = ["RSA ", "EC ", "", "OPENSSH "][i % 4]
        pem = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        rows.append(_row(f"key.pem:\n{pem}", ["secrets:private-key"], "RFC 7468 PEM labels"))
    keys = ["password", "DB_PASSWORD", "client_secret", "api_key", "SECRET_KEY", "passwd"]
    for i in range(24):
        value = token(ALNUM, 10) + RNG.choice("!#%") + token(ALNUM, 5)
        tpl = ["{}={}", '{}: "{}"', '"{}": "{}"', "{} = '{}'"][i % 4]
        cat = "password" if "pass" in keys[i % 6].lower() else "secret"
        rows.append(_row(tpl.format(keys[i % len(keys)], value), [f"secrets:{cat}"],
                         "config-file assignments (12-factor / docker-compose style)"))  # fmt: skip
    for _ in range(8):
        url = f"postgres://app:{token(ALNUM, 14)}@db.internal:5432/orders"
        rows.append(_row(f"DATABASE_URL={url}", ["secrets:password"], "RFC 3986 userinfo"))
    rows += [_row(t, [], src) for src, t in SECRET_NEGATIVES]
    return rows


def main() -> None:
    """Write the three files."""
    for name, rows in (
        ("injection", injection_rows()),
        ("pii", pii_rows()),
        ("secrets", secret_rows()),
    ):
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}.jsonl: {len(rows)} rows")


if __name__ == "__main__":
    main()
