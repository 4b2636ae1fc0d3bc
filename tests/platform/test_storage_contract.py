"""``SqlStorage`` implements the ``Storage`` contract method by method, so neither can change without the other.

The check is structural, like a type checker's, but stricter: the same public methods on both sides, and
for each the same parameters (names, kinds, defaults, annotations) and return annotation.
"""

from __future__ import annotations

import inspect
from typing import Protocol

import pytest

from nvflare_fdd.platform import contracts
from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.platform.records import Job, User
from nvflare_fdd.platform.storage import SqlStorage

REPOSITORIES = (
    contracts.UserRepository, contracts.ModelRepository, contracts.SiteGroupRepository, contracts.JobRepository,
    contracts.RunRepository, contracts.BlobRepository, contracts.PretrainedRepository, contracts.StatsRepository,
)  # fmt: skip


def protocol_methods(protocol: type) -> dict[str, object]:
    """Every method a protocol declares, itself or through the protocols it extends."""
    methods: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if Protocol in cls.__bases__:
            methods.update({name: value for name, value in vars(cls).items() if inspect.isfunction(value)
                            and not name.startswith("_")})  # fmt: skip
    return methods


def public_methods(cls: type) -> dict[str, object]:
    return {name: value for name, value in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def drift(protocol: type, cls: type) -> list[str]:
    """How ``cls`` and ``protocol`` differ: methods only one side has, and signatures that do not match."""
    declared, implemented = protocol_methods(protocol), public_methods(cls)
    problems = [f"{name}: in {protocol.__name__}, not in {cls.__name__}" for name in sorted(declared.keys() - implemented)]
    problems += [f"{name}: in {cls.__name__}, not in {protocol.__name__}" for name in sorted(implemented.keys() - declared)]
    for name in sorted(declared.keys() & implemented):
        expected, actual = inspect.signature(declared[name]), inspect.signature(implemented[name])
        if expected != actual:
            problems.append(f"{name}: {protocol.__name__} has {expected}, {cls.__name__} has {actual}")
    return problems


def test_sql_storage_is_the_storage_contract_exactly():
    assert drift(Storage, SqlStorage) == []


def test_storage_is_every_repository_and_close():
    united = {name for repository in REPOSITORIES for name in protocol_methods(repository)}
    assert set(protocol_methods(Storage)) == united | {"close"}
    assert sum(len(protocol_methods(repository)) for repository in REPOSITORIES) == len(united)  # no method twice


@pytest.mark.parametrize("name", sorted(protocol_methods(Storage)))
def test_each_method_of_the_contract_says_what_it_promises(name):
    assert inspect.getdoc(protocol_methods(Storage)[name])


class _GainsAMethod(SqlStorage):
    def vacuum(self) -> None:
        pass


class _GainsAParameter(SqlStorage):
    def get_job(self, name: str, for_update: bool = False) -> Job:
        return super().get_job(name)


class _RenamesAParameter(SqlStorage):
    def get_job(self, job: str) -> Job:
        return super().get_job(job)


class _LosesAParameter(SqlStorage):
    def ensure_user(self, name: str) -> User:
        return super().ensure_user(name)


class _ContractGainsAMethod(Storage, Protocol):
    def vacuum(self) -> None:
        """Compact the database."""


@pytest.mark.parametrize(("protocol", "cls", "problem"), [
    (Storage, _GainsAMethod, "vacuum: in _GainsAMethod, not in Storage"),
    (Storage, _GainsAParameter, "get_job: Storage has (self, name: 'str') -> 'Job', _GainsAParameter has"),
    (Storage, _RenamesAParameter, "get_job: Storage has (self, name: 'str') -> 'Job', _RenamesAParameter has (self, job: 'str')"),
    (Storage, _LosesAParameter, "ensure_user: Storage has (self, name: 'str', is_admin: 'bool' = False)"),
    (_ContractGainsAMethod, SqlStorage, "vacuum: in _ContractGainsAMethod, not in SqlStorage"),
])  # fmt: skip
def test_the_check_fails_when_either_side_changes(protocol, cls, problem):
    found = drift(protocol, cls)
    assert len(found) == 1 and found[0].startswith(problem), found
