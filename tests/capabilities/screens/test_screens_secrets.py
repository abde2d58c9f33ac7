"""Secrets screen: documented token shapes, key blocks, assignments, and placeholders."""

from __future__ import annotations

import pytest

from plinth.capabilities.screens import SecretsDetector, default_screens
from plinth.capabilities.screens.credentials import entropy

DETECTOR = SecretsDetector()
ALNUM = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0T"


def found(text: str) -> list[tuple[str, str]]:
    """Return (category, matched text) for each finding."""
    return [(f.category, text[f.start : f.end]) for f in DETECTOR.find(text)]


@pytest.mark.parametrize(
    ("text", "category", "value"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "aws-access-key", "AKIAIOSFODNN7EXAMPLE"),
        (f"t=ghp_{ALNUM}abcd", "github-token", f"ghp_{ALNUM}abcd"),
        ("glpat-abcDEF123456ghiJKL78", "gitlab-token", "glpat-abcDEF123456ghiJKL78"),
        ("xoxb-1234567890-abcdefABCDEF1234", "slack-token", "xoxb-1234567890-abcdefABCDEF1234"),
        (f"OPENAI=sk-proj-{ALNUM}{ALNUM}", "api-key", f"sk-proj-{ALNUM}{ALNUM}"),
        (f"AIza{ALNUM}xyz", "api-key", f"AIza{ALNUM}xyz"),
        (f"jwt {JWT} end", "jwt", JWT),
        ("password=\"Xk9#mP2qL7vR\"", "password", "Xk9#mP2qL7vR"),
        ("DB_PASSWORD: Xk9mP2qL7vR1", "password", "Xk9mP2qL7vR1"),
        ("client_secret = 'f8Kd93LmQ0zPx7Wv'", "secret", "f8Kd93LmQ0zPx7Wv"),
        ("postgres://app:S3cr3tPa55@db:5432/x", "password", "S3cr3tPa55"),
        ("Authorization: Bearer abcDEF123456789xyz", "bearer-token", "abcDEF123456789xyz"),
    ],
)  # fmt: skip
def test_credentials_are_found(text: str, category: str, value: str) -> None:
    assert (category, value) in found(text)


def test_a_private_key_block_is_found_whole_even_unterminated() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{pem}\nbye") == [("private-key", pem)]
    cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert found(cut) == [("private-key", cut)]


@pytest.mark.parametrize(
    "text",
    [
        "password=<your-password>",
        "api_key: ${OPENAI_API_KEY}",
        "DB_PASSWORD={{ vault_db_password }}",
        "password: ********",
        "password: changeme",
        "api_key = os.environ['API_KEY']",
        "token = get_token(scope='read')",
        "secret: db-credentials",
        'api_key_header = "X-API-Key"',
        "private_key_path: /etc/ssl/private/server.key",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "Use scikit-learn, not sk-learn.",
        "Authorization: Bearer <token>",
    ],
)
def test_placeholders_and_look_alikes_are_not_flagged(text: str) -> None:
    assert found(text) == []


def test_only_the_value_is_redacted() -> None:
    text = 'export DB_PASSWORD="Xk9#mP2qL7vR" AWS=AKIAIOSFODNN7EXAMPLE'
    result = default_screens().scan(text, kind="prompt")
    assert result.action == "redact"
    assert result.redacted == (
        'export DB_PASSWORD="[REDACTED:PASSWORD]" AWS=[REDACTED:AWS_ACCESS_KEY]'
    )


def test_entropy() -> None:
    assert entropy("") == 0.0
    assert entropy("aaaa") == 0.0
    assert entropy("abcd") == pytest.approx(2.0)
