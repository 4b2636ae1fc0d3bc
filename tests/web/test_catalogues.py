"""The web UI's gettext catalogues: both languages say every key, with the same parameters; the pages ask only for
keys the catalogues have; an unknown key or language still shows something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from nvflare_fdd.web.i18n import LABELS, LANGUAGES, labels_for, translate
from nvflare_fdd.web.messages import MESSAGES, message

WEB = Path(__file__).resolve().parents[2] / "nvflare_fdd" / "web"
DOMAINS = ("labels", "messages")
PARAM = re.compile(r"(?<!\{)\{(\w+)\}")


def po_file(domain: str, language: str) -> Path:
    return WEB / "locale" / language / "LC_MESSAGES" / f"{domain}.po"


def entries(domain: str, language: str) -> dict[str, str]:
    """Every entry of the file as written, the empty and fuzzy ones too (the loader leaves those out)."""
    with po_file(domain, language).open("rb") as file:
        catalog = read_po(file, locale=language, abort_invalid=True)
    assert not [m.id for m in catalog if m.id and m.fuzzy], f"{domain}/{language}: fuzzy entries are not shown"
    return {m.id: m.string for m in catalog if m.id}


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_key_has_words_in_both_languages_with_the_same_parameters(domain):
    korean, english = (entries(domain, language) for language in LANGUAGES)

    assert len(korean) > 100
    assert sorted(set(korean) - set(english)) == [], "keys only in Korean"
    assert sorted(set(english) - set(korean)) == [], "keys only in English"
    assert [key for key in korean if not korean[key].strip() or not english[key].strip()] == []
    for key in korean:
        assert sorted(PARAM.findall(korean[key])) == sorted(PARAM.findall(english[key])), key


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_catalogue_says_each_key_once(domain, language):
    ids = re.findall(r'^msgid "(.+)"$', po_file(domain, language).read_text(encoding="utf-8"), flags=re.MULTILINE)

    assert sorted({key for key in ids if ids.count(key) > 1}) == []


def test_every_label_the_templates_and_views_name_is_in_the_catalogue():
    literal = re.compile(r"""\b(?:t|translate)\(\s*["']([\w. ]+)["']\s*[,)]""")  # a whole key, not a prefix
    named = {key for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")] for key in literal.findall(path.read_text())}

    assert len(named) > 150
    assert sorted(key for key in named if key not in LABELS) == []


def test_the_loaded_words_are_the_catalogues():
    assert LABELS["nav.jobs"] == ("연합학습 작업 관리", "Federated jobs")
    assert translate("nav.jobs", "ko") == "연합학습 작업 관리" and translate("nav.jobs", "en") == "Federated jobs"
    assert translate("nav.jobs", "fr") == "Federated jobs"  # a language other than Korean reads English
    assert translate("no.such.label", "ko") == "no.such.label"  # an unknown key is shown as itself
    assert labels_for(("state.",), "en")["state.queued_name"] == "queued"
    assert all(key.startswith(("job.", "phase.")) for key in labels_for(("job.", "phase."), "ko"))
    assert message("job.not_found", {"name": "x1"}, "en") == "No job named 'x1' (deleted, or not yours to see)"
    assert message("no.such.code", {}, "ko", fallback="as given") == "as given"
    assert "${...}" in message("bundle.config_interpolation", {"reason": "r"}, "en")  # {{ }} escapes a brace
    assert "data.refresh_running" in LABELS and "data.refresh_running" in MESSAGES  # two domains, two words
    assert LABELS["data.refresh_running"] != MESSAGES["data.refresh_running"]
