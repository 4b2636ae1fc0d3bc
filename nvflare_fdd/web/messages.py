"""The web UI's words for the platform's errors, the bundle's problems and the jobs' state reasons.

Every message is keyed by the code the platform gives it (``FddError.code``, ``Problem.code``,
``JobEvent.code``), with the values it names as parameters. The CLI keeps its own English
messages; these speak of the web UI's buttons and fields, never of command-line flags.
"""

from __future__ import annotations

from collections.abc import Mapping

from nvflare_fdd.web.i18n import Catalogue, translate

MESSAGES = Catalogue("messages")
"""code -> (Korean, English); ``{name}`` is a parameter (``locale/<language>/LC_MESSAGES/messages.po``)."""

FIELD_KEYS = {"job_name": "jobs.name", "class_name": "models.class", "version": "models.version", "group_name": "jobs.group_name",
              "description": "common.description"}  # fmt: skip
"""Parameters named ``field`` are shown as the form's own label."""
STATE_PARAMS = ("state", "to_state")
"""Parameters that name a job state are shown as the state's label."""


class _Params(dict):
    """Format values that leave an unknown ``{name}`` visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def message(code: str | None, params: Mapping | None, language: str, fallback: str = "") -> str:
    """The message ``code`` in ``language``, its parameters filled in; ``fallback`` (or a generic message) for an
    unknown code."""
    template = MESSAGES.text(code or "", language)
    if template is None:
        return fallback or translate_generic(language)
    values = _Params(params or {})
    for key in STATE_PARAMS:
        if key in values:
            values[key] = translate(f"state.{values[key]}_name", language)
    if "field" in values and values["field"] in FIELD_KEYS:
        values["field"] = translate(FIELD_KEYS[values["field"]], language)
    return template.format_map(values)


def translate_generic(language: str) -> str:
    return message("error.generic", {}, language, fallback="?")


def error_message(error: Exception, language: str) -> str:
    """A platform error in the UI's words; an error without a code yet keeps its own message, which names the
    problem (better than a generic one; ``test_live_and_integrity`` keeps the platform's and the bundle's coded)."""
    code = getattr(error, "code", None)
    if code in MESSAGES:
        return message(code, getattr(error, "params", {}), language)
    return str(error) or translate_generic(language)


def problem_dict(problem, language: str) -> dict:
    """A bundle problem for the page: its file, line and message in the UI's words."""
    code = getattr(problem, "code", None)
    text = message(code, getattr(problem, "params", {}), language) if code in MESSAGES else (
        problem.message if language != "ko" else translate_generic(language))  # fmt: skip
    return {"file": problem.file, "line": problem.line, "code": code, "message": text}


def event_reason(event, language: str) -> str:
    """A state change's reason in the UI's words (records from before reasons had codes: as stored)."""
    if event.code in MESSAGES:
        return message(event.code, event.params, language)
    return event.reason
