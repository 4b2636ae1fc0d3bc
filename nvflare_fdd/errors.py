"""The package's error hierarchy: every error a user can cause is an ``FddError``.

The bases live here; each specific error is defined beside the code that raises it, and all of them
are listed here (a test keeps this list complete). The web UI answers a user's error with 4xx
(``PermissionDenied`` 403, ``NotFound`` 404, ``StorageConflict`` 409, any other 400) and the
infrastructure's, ``StorageError``, with 503 and ``Retry-After`` (500 when it is not transient).

User errors (what the user or the site's operator can fix):

- ``BundleError``: the bundle contract (DESIGN §2). ``ArchiveError`` (an unsafe or unreadable zip),
  ``ContractError`` (a missing function, a bad signature), ``ServerModelError`` (the server's model build),
  ``nvflare_fdd.platform.service.checks.BundleRejected`` (registration refused, with the problems).
- ``KdaError``: the site's data agent. ``ImportRowsError`` (bad rows, nothing imported),
  ``nvflare_fdd.kda.access.KdaNotFound`` (phase 2000 names the site's configured location).
- ``nvflare_fdd.platform.errors.StorageConflict`` (a name taken, a limit reached, a state that forbids it),
  ``nvflare_fdd.platform.errors.NotFound``, ``nvflare_fdd.platform.service.checks.PermissionDenied``.
- ``nvflare_fdd.pretrained.manifest.PretrainedError`` and its ``MissingPretrained``.
- ``nvflare_fdd.stats.contract.StatsError`` and its ``StatsPayloadError``.
- ``nvflare_fdd.envs.JobEnvironmentError`` (phase 900: a requirement that cannot be installed),
  ``nvflare_fdd.envs.sandbox.SandboxUnavailable`` (no sandbox tool, and the site did not turn it off).
- ``nvflare_fdd.plugin.manager.PluginError``, ``nvflare_fdd.demo.data.DemoDataError``.

A run's outcome (raised to end a round or a run, carrying what may leave the site):

- ``nvflare_fdd.client.phases.RoundError`` (a phase failed: code, phase, the bounded failure),
  ``nvflare_fdd.client.runtime.RequestRefused`` (user code asked for what the site refuses) and its
  executor-side ``nvflare_fdd.client.requests.Refusal``, ``nvflare_fdd.aggregation.AggregationError``,
  ``nvflare_fdd.simulate.RunFailed`` (``fdd run``), ``nvflare_fdd.platform.poc.PocError``.

Infrastructure: ``nvflare_fdd.platform.db.StorageError`` (the platform's database away or unusable).
"""

from __future__ import annotations


class FddError(Exception):
    """Base of every error nvflare-fdd raises on purpose.

    The message is English, for the CLI and logs. ``code`` names the error for interfaces that say it
    in their own words (the web UI's catalogue, ``nvflare_fdd.web.messages``), with ``params`` the
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
