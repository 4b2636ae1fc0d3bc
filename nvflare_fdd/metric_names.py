"""The metric names a job may report: known before the run, so a name can never carry a site's data.

A name leaves a site only if it is one of

- a small common vocabulary (regression and classification scores, and what Hugging Face's
  ``Trainer.evaluate()`` and Lightning's ``Trainer.test()`` return: ``eval_loss``, ``epoch``,
  ``test_acc``, ...);
- a string literal used as a dict key in the bundle's ``train_eval.py`` (``{"rmse": ...}``,
  ``metrics["r2"] = ...``, ``dict(auc=...)``), read from the source, never by running it —
  so bundles written for K-MELLODDY keep their metric names unchanged; each also with the
  prefixes Hugging Face and Lightning add (``eval_rmse``, ``test_rmse``, ``val/rmse``);
- a name declared with the model at registration (``fdd models register --metric NAME``).

Names built at run time (from SMILES, say) are none of these and stay at the site.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from pathlib import Path

TRAIN_EVAL = "train_eval.py"

_SCORES = (
    "loss", "mse", "rmse", "mae", "mape", "r2", "rmsle", "pearson", "pearsonr", "spearman", "spearmanr", "kendall",
    "accuracy", "acc", "balanced_accuracy", "auc", "roc_auc", "auroc", "pr_auc", "auprc", "average_precision",
    "f1", "f1_score", "precision", "recall", "sensitivity", "specificity", "mcc", "kappa", "log_loss", "logloss",
    "bce", "nll", "perplexity", "top1", "top5", "error", "count", "num_samples", "samples",
)  # fmt: skip
_RUN_FACTS = (
    "epoch", "step", "global_step", "runtime", "samples_per_second", "steps_per_second",
    "model_preparation_time", "learning_rate", "lr", "grad_norm",
)  # fmt: skip
#: Prefixes that training frameworks put before a metric's name.
PREFIXES = ("", "eval_", "test_", "val_", "valid_", "validation_", "train_", "eval/", "test/", "val/", "train/")

MAX_DECLARED = 64


def vocabulary() -> frozenset[str]:
    """The common names every job may report."""
    return frozenset(_with_prefixes((*_SCORES, *_RUN_FACTS)))


def literal_keys(source: str) -> set[str]:
    """String literals used as dict keys anywhere in ``source`` (no code is run).

    Covers ``{"k": v}``, ``d["k"] = v`` (also augmented), ``dict(k=v)`` and ``d.update(k=v)``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys.update(key.value for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                    if isinstance(target.slice.value, str):
                        keys.add(target.slice.value)
        elif isinstance(node, ast.Call) and _is_dict_builder(node.func):
            keys.update(keyword.arg for keyword in node.keywords if keyword.arg)
    return keys


def bundle_metric_names(bundle_dir: str | Path) -> set[str]:
    """The literal dict keys of the bundle's ``train_eval.py``, with the frameworks' prefixes."""
    path = Path(bundle_dir) / TRAIN_EVAL
    try:
        source = path.read_text(errors="replace")
    except OSError:
        return set()
    return _with_prefixes(literal_keys(source))


def allowed_metric_names(bundle_dir: str | Path, declared: Iterable[str] = ()) -> frozenset[str]:
    """Every name a job of ``bundle_dir`` may report: the vocabulary, the bundle's literal keys, ``declared``."""
    return vocabulary() | bundle_metric_names(bundle_dir) | set(check_declared(declared))


def job_metric_names(fl_ctx, declared: Iterable[str] = ()) -> frozenset[str]:
    """``allowed_metric_names`` of the job ``fl_ctx`` (an NVFlare server context) runs: its bundle is the server's
    copy, the app's custom folder."""
    custom_dir = fl_ctx.get_engine().get_workspace().get_app_custom_dir(fl_ctx.get_job_id())
    return allowed_metric_names(custom_dir, declared)


def check_declared(names: Iterable[str]) -> list[str]:
    """Names declared with a model, checked: each 1-64 characters of letters, digits and ``_ . - /``.

    Raises:
        ValueError: a name breaks the rule, or there are more than ``MAX_DECLARED``.
    """
    from nvflare_fdd.metric_policy import _NAME, MAX_NAME_LENGTH

    names = list(dict.fromkeys(names))
    if len(names) > MAX_DECLARED:
        raise ValueError(f"at most {MAX_DECLARED} metric names can be declared with a model, got {len(names)}")
    for name in names:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or not _NAME.match(name) or " " in name:
            raise ValueError(
                f"metric name {str(name)[:80]!r} must be 1-{MAX_NAME_LENGTH} characters of letters, digits and _ . - / @"
            )
    return names


def _with_prefixes(names: Iterable[str]) -> set[str]:
    return {prefix + name for name in names for prefix in PREFIXES}


def _is_dict_builder(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "dict"
    return isinstance(func, ast.Attribute) and func.attr in ("update", "setdefault")
