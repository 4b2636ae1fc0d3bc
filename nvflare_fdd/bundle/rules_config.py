"""``config.yaml``: valid YAML whose top level is a mapping, loadable by OmegaConf.

The server passes it as a plain ``dict`` to the model class and each client wraps it in an
OmegaConf ``DictConfig``; both need a mapping at the top. Loading the config for use is the
job of the config loader, not of this module.
"""

from __future__ import annotations

import yaml

from nvflare_fdd.bundle.contract import CONFIG_FILE, Problem


def check_config(text: str) -> list[Problem]:
    """Checks the text of ``config.yaml``.

    Args:
        text: the file's content.

    Returns:
        at most one problem: the first thing that keeps the config from loading.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        return [_yaml_problem(error)]
    except yaml.YAMLError as error:
        return [Problem(CONFIG_FILE, f"is not valid YAML ({error}): fix it", code="bundle.config_yaml", params={"reason": str(error)})]
    if data is None:
        return [Problem(CONFIG_FILE, "is empty: remove it, or add the keys your code reads", code="bundle.config_empty")]
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        message = f"the top level is {kind}, but it must be a mapping of 'key: value' lines: put the values under keys"
        return [Problem(CONFIG_FILE, message, code="bundle.config_not_mapping")]
    return _omegaconf_problems(text)


def _yaml_problem(error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    reason = ": ".join(part for part in (error.context, error.problem) if part)
    return Problem(CONFIG_FILE, f"is not valid YAML ({reason}): fix it", mark.line + 1 if mark else None,
                   code="bundle.config_yaml", params={"reason": reason})


def _omegaconf_problems(text: str) -> list[Problem]:
    """What OmegaConf rejects beyond plain YAML: duplicate keys and interpolations to missing keys."""
    from omegaconf import OmegaConf  # imported here: only needed once a config exists
    from omegaconf.errors import InterpolationKeyError, OmegaConfBaseException

    try:
        config = OmegaConf.create(text)
    except yaml.MarkedYAMLError as error:
        return [_yaml_problem(error)]
    except (OmegaConfBaseException, ValueError, yaml.YAMLError) as error:
        return [Problem(CONFIG_FILE, f"OmegaConf cannot load it ({_first_line(error)}): fix it", code="bundle.config_omegaconf",
                        params={"reason": _first_line(error)})]
    try:
        OmegaConf.to_container(config, resolve=True)
    except InterpolationKeyError as error:
        message = (
            f"an interpolation points to a missing key ({_first_line(error)}): "
            "fix the ${...} reference or add the key"
        )
        return [Problem(CONFIG_FILE, message, code="bundle.config_interpolation", params={"reason": _first_line(error)})]
    except OmegaConfBaseException:
        pass  # custom resolvers exist only where the code registers them; not an error here
    return []


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
