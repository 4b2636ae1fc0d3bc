"""Labels of the web UI in Korean (the default, as in the K-MELLODDY guide) and English.

The words are gettext catalogues, ``locale/<language>/LC_MESSAGES/<domain>.po``: ``labels`` (msgid: the key the
templates, views and scripts ask for) and ``messages`` (msgid: the platform's code, see ``messages.py``). Each is
read once, when first asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

from babel.messages.pofile import read_po

LANGUAGES = ("ko", "en")
DEFAULT_LANGUAGE = "ko"


@cache
def _read(domain: str, language: str) -> dict[str, str]:
    """The catalogue ``domain`` in ``language``: msgid -> msgstr, in the file's order. As gettext does, an entry
    without words or marked fuzzy is left out (its key is shown)."""
    path = resources.files("nvflare_fdd.web") / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as file:
        catalog = read_po(file, locale=language, domain=domain, abort_invalid=True)
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string
            and not m.fuzzy}  # fmt: skip


class Catalogue(Mapping[str, tuple[str, str]]):
    """One domain in both languages: key -> (Korean, English)."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def texts(self, language: str) -> dict[str, str]:
        """Every entry in ``language``; a language other than Korean reads English."""
        return _read(self.domain, "ko" if language == "ko" else "en")

    def text(self, key: str, language: str) -> str | None:
        return self.texts(language).get(key)

    def __getitem__(self, key: str) -> tuple[str, str]:
        return self.texts("ko")[key], self.texts("en")[key]

    def __contains__(self, key: object) -> bool:
        return key in self.texts("ko")

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts("ko"))

    def __len__(self) -> int:
        return len(self.texts("ko"))


LABELS = Catalogue("labels")


def translate(key: str, language: str) -> str:
    """The label ``key`` in ``language`` (``ko`` or ``en``); an unknown key is shown as itself."""
    return LABELS.text(key, language) or key


def labels_for(prefixes: tuple[str, ...], language: str) -> dict[str, str]:
    """Labels whose keys start with one of ``prefixes``, for the page's scripts."""
    return {key: text for key, text in LABELS.texts(language).items() if key.startswith(prefixes)}
