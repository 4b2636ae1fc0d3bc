"""The package's error hierarchy, in one place: every error a user can cause is an ``FddError``.

Each error is defined here and importable, as well, from the module that raises it (e.g.
``nvflare_fdd.platform.storage.NotFound``); a test keeps this module the only place that defines
one. The web UI answers a user's error with 4xx (``PermissionDenied`` 403, ``NotFound`` 404,
``StorageConflict`` 409, any other 400) and the infrastructure's, ``StorageError``, with 503 and
``Retry-After`` (500 when it is not transient).

User errors (what the user or the site's operator can fix):

- ``BundleError``: the bundle contract (DESIGN §2). ``ArchiveError`` (an unsafe or unreadable zip),
  ``ContractError`` (a missing function, a bad signature), ``ServerModelError`` (the server's model build),
  ``BundleRejected`` (registration refused, with the problems).
- ``KdaError``: the site's data agent. ``ImportRowsError`` (bad rows, nothing imported), ``KdaNotFound``
  (phase 2000 names the site's configured location).
- ``StorageConflict`` (a name taken, a limit reached, a state that forbids it), ``NotFound``, ``PermissionDenied``.
- ``PretrainedError`` and its ``nvflare_fdd.pretrained.manifest.MissingPretrained`` (whose message is the
  pretrained store's).
- ``StatsError`` and its ``StatsPayloadError``.
- ``JobEnvironmentError`` (phase 900: a requirement that cannot be installed), ``SandboxUnavailable`` (no
  sandbox tool, and the site did not turn it off).
- ``PluginError``, ``DemoDataError``, ``PocError``.

A run's outcome (raised to end a round or a run, carrying what may leave the site):

- ``nvflare_fdd.client.phases.RoundError`` (a phase failed: code, phase, the bounded failure; defined with the
  phases it names), ``RequestRefused`` (user code asked for what the site refuses) and its executor-side
  ``Refusal``, ``AggregationError``, ``StreamError`` (a streamed model that did not arrive whole), ``RunFailed``
  (``fdd run``).

Infrastructure: ``StorageError`` (the platform's database away or unusable).

Not errors of the package's users, so not ``FddError``: ``nvflare_fdd.controllers.saver.SaveFailed`` (the
saver thread's report to the controller, which turns it into the job's failure) and the web UI's
``CsrfError`` (a werkzeug ``BadRequest``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class FddError(Exception):
    """Base of every error nvflare-fdd raises on purpose.

    The message is English, for the CLI and logs. ``code`` names the error for interfaces that say it
    in their own words (the web UI's catalogue, ``nvflare_fdd/web/locale/*/LC_MESSAGES/messages.po``), with ``params`` the
    values the message names.

    Attributes:
        code: a stable key such as ``"job.name_taken"``; ``None`` for errors without one.
        params: the values the message names, by name.
    """

    code: str | None = None

    def __init__(self, *args, code: str | None = None, params: dict | None = None):
        super().__init__(*args)
        if code is not None:
            self.code = code
        self.params = dict(params or {})


class BundleError(FddError):
    """A user bundle breaks the bundle contract (DESIGN §2)."""


class KdaError(FddError):
    """The site data agent cannot import or serve data."""


class ImportRowsError(KdaError):
    """A file has bad rows; nothing was imported.

    Attributes:
        problems: one ``(row_number, message)`` pair per problem, row numbers as the
            provider sees them in the file (header is row 1).
    """

    def __init__(self, source: str, problems: list[tuple[int | None, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s); nothing was imported"]
        for row, message in problems:
            lines.append(f"  row {row}: {message}" if row is not None else f"  {message}")
        super().__init__("\n".join(lines))


class ArchiveError(BundleError):
    """A bundle archive (``.zip``) is unsafe or unreadable; nothing was extracted.

    Attributes:
        problems: one ``nvflare_fdd.bundle.Problem`` per problem found in the archive.
    """

    def __init__(self, source: str, problems: list):
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {len(self.problems)} problem(s) in the archive; nothing was extracted"]
        lines.extend(f"  {problem}" for problem in self.problems)
        super().__init__("\n".join(lines))


class ContractError(BundleError):
    """User code broke the bundle contract in a way the platform detected while running it.

    Attributes:
        reason: a key of ``nvflare_fdd.client.boundary.REASONS``: the platform's own words for the
            problem, which may leave a site (the message, which may quote user values, stays there).
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class ServerModelError(BundleError):
    """The server could not build the model class from ``model.py``; ``trace`` holds what the build printed."""

    def __init__(self, message: str, trace: str = ""):
        self.trace = trace
        super().__init__(message)

# -- bundles and sites -------------------------------------------------------------------------


class BundleRejected(BundleError):
    """A bundle failed validation; ``problems`` lists every problem."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the bundle:\n" + "\n".join(f"  {p}" for p in problems),
                         code="bundle.rejected", params={"count": len(problems)})


class KdaNotFound(KdaError):
    """The site's KDA is not where the site's configuration says."""


class JobEnvironmentError(FddError):
    """The job's environment could not be built; ``requirements`` names the lines at fault, if known."""

    def __init__(self, message: str, requirements: Sequence[str] = (), output: str = ""):
        self.requirements = list(requirements)
        self.output = output
        super().__init__(message)


class SandboxUnavailable(FddError):
    """User code must run sandboxed and this machine cannot start the sandbox."""

# -- the platform ------------------------------------------------------------------------------


class StorageConflict(FddError):
    """A name is taken, a limit is reached, or the record is in a state that forbids the change."""


class NotFound(FddError):
    """No such user, model, group or job."""


class PermissionDenied(FddError):
    """The user may see this, but only its owner (or an admin) may change it."""


class PretrainedError(FddError):
    """A pretrained model's name, folder or manifest is not acceptable, or it cannot be had."""


class StatsError(FddError):
    """Statistics cannot be computed, stored or read."""


class StatsPayloadError(StatsError):
    """A summary breaks the contract above; it is refused as a whole."""


class PluginError(FddError):
    """A plugin registered something twice or broke a hook's contract."""


class DemoDataError(FddError):
    """The demo data cannot be built (a missing optional dependency or data file)."""


class PocError(FddError):
    """The POC deployment could not be prepared, started or reached."""

# -- a run's outcome ---------------------------------------------------------------------------


class RequestRefused(FddError):
    """The platform cannot serve what user code asked for (e.g. a pretrained model not in the store).

    Raised in user code, where it asked, so the job fails at that line; ``reason`` is a key of the
    platform's catalogue of problems (its text is what leaves the site), the message stays at the site.
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class Refusal(FddError):
    """A handler cannot serve a request: the worker raises it in user code (``RequestRefused``), so the command fails
    at the bundle's line that asked, told by ``reason`` (a key of ``nvflare_fdd.client.boundary.REASONS``); the
    message stays at the site unless the site shares error messages."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class AggregationError(FddError):
    """An update cannot be averaged (bad weight, shape or dtype mismatch, total weight 0)."""


class StreamError(FddError):
    """A model streamed over NVFlare's download service did not arrive whole, or its reference or file is malformed."""


class RunFailed(FddError):
    """The federated run failed; ``failure`` holds the site, round, phase code and trace when known."""

    def __init__(self, message: str, failure: dict | None = None, log_path: Path | None = None):
        self.failure = failure
        self.log_path = log_path
        super().__init__(message)

# -- infrastructure ----------------------------------------------------------------------------


class StorageError(FddError):
    """The platform database cannot be reached or used."""
