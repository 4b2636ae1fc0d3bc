"""AI models (the guide's "AI Model 관리"): list, register by upload, edit, delete; and the pretrained-model store
(shared by everyone signed in): list, upload a folder (its relative paths kept) or a file, remove (owner or admin)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from nvflare_fdd.bundle import Problem
from nvflare_fdd.errors import BundleError, FddError
from nvflare_fdd.platform.records import PretrainedModel
from nvflare_fdd.platform.service import BundleRejected
from nvflare_fdd.web.messages import message, problem_dict
from nvflare_fdd.web.security import can_change
from nvflare_fdd.web.views import acted, iso, model_summary, platform, t, user

blueprint = Blueprint("models", __name__)


@blueprint.get("/models")
def index():
    used: dict[str, list[str]] = {}
    for job in platform().jobs(user()):
        if job.model:
            used.setdefault(job.model, []).append(job.name)
    found = [model_summary(m) | {"created_at": m.created_at, "updated_at": m.updated_at, "jobs": used.get(m.label, [])}
             for m in platform().models(user())]  # fmt: skip
    store = [pretrained_summary(m) | {"created_at": m.created_at} for m in platform().pretrained_models()]
    return render_template("models.html", models=found, pretrained=store)


@blueprint.post("/api/models")
def register():
    """Register an uploaded bundle; 422 with every problem (per file) when it fails validation."""
    form = request.form
    try:
        with uploaded_bundle(required=True) as bundle:
            assert bundle is not None  # required=True: no upload is refused before
            model = platform().register_model(
                user(), bundle, form.get("class_name", "").strip(), form.get("version", "").strip(), form.get("description", ""),
                metric_names=[name for name in form.get("metric_names", "").replace(",", " ").split() if name],
            )
    except BundleError as error:
        return _rejected(error)
    flash(f"{model.label} ✓")
    return jsonify(model=model_summary(model), redirect=url_for("models.index")), 201


@blueprint.post("/api/models/<class_name>/<version>")
def edit(class_name: str, version: str):
    """Change the description and, when files are uploaded, replace all of the model's files."""
    description = request.form.get("description")
    try:
        with uploaded_bundle(required=False) as bundle:
            if bundle is not None:
                platform().replace_model_files(user(), class_name, version, bundle)
    except BundleError as error:
        return _rejected(error)
    model = platform().describe_model(user(), class_name, version, description) if description is not None else None
    flash(f"{class_name}:{version} — {t('common.edit')} ✓")
    return jsonify(model=model_summary(model) if model else None, redirect=url_for("models.index"))


@blueprint.post("/models/<class_name>/<version>/delete")
def delete(class_name: str, version: str):
    """Delete a model for good; refused, naming them, while jobs use it."""
    platform().delete_model(user(), class_name, version)
    return acted(url_for("models.index"), f"{class_name}:{version} — {t('common.delete')} ✓")


@contextmanager
def uploaded_bundle(required: bool) -> Iterator[Path | None]:
    """The request's ``files`` as a bundle: one ``.zip`` as is, else a folder of the files.

    A dropped folder's files come with their paths inside it: they are laid out as they were, so the
    bundle is validated like a zip of that folder (a sub-folder is refused, with the reason).

    Raises:
        BundleRejected: a path is unsafe or given twice.
        FddError: ``required`` and no file was uploaded.
    """
    uploads = [f for f in request.files.getlist("files") if f.filename]
    if not uploads:
        if required:
            raise FddError("upload the bundle's files", code="upload.no_files")
        yield None
        return
    problems, paths = [], []
    for upload in uploads:
        filename = upload.filename or ""
        parts = filename.replace("\\", "/").split("/")
        if filename.startswith("/") or any(part in ("", ".", "..") or "\0" in part for part in parts):
            problems.append(Problem(filename, "unsafe path in the upload", code="upload.path_unsafe"))
        paths.append(parts)
    tops = {parts[0] for parts in paths}
    if len(tops) == 1 and all(len(parts) > 1 for parts in paths):  # the dropped folder itself: its contents are the bundle
        paths = [parts[1:] for parts in paths]
    seen: set[str] = set()
    for parts in paths:
        key = "/".join(parts)
        if key in seen:
            problems.append(Problem(key, "uploaded twice; a bundle has each file once", code="upload.twice"))
        seen.add(key)
    if problems:
        raise BundleRejected(problems)
    with tempfile.TemporaryDirectory(prefix="fdd-upload-") as temporary:
        folder = Path(temporary) / "bundle"
        folder.mkdir()
        for upload, parts in zip(uploads, paths):
            target = folder.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            upload.save(target)
        if len(uploads) == 1 and len(paths[0]) == 1 and paths[0][0].lower().endswith(".zip"):
            yield folder / paths[0][0]
        else:
            yield folder


def _rejected(error: BundleError):
    problems = getattr(error, "problems", None)
    if not problems:
        raise error
    listed = [problem_dict(p, g.lang) for p in problems]
    return jsonify(error=message("bundle.rejected", {"count": len(problems)}, g.lang), code="bundle.rejected",
                   problems=listed), 422


# -- the pretrained-model store ---------------------------------------------------------------------

UPLOAD_SLACK_BYTES = 16 << 20  # the form's own bytes around the files


@blueprint.post("/api/pretrained")
def add_pretrained():
    """Add an uploaded folder (each file named by its path inside it) or one file (``kind=file``) to the store."""
    from nvflare_fdd.pretrained.manifest import check_name

    request.max_content_length = platform().config.pretrained_max_bytes + UPLOAD_SLACK_BYTES  # past the bundle limit
    name = check_name(request.form.get("name", "").strip())
    with uploaded_pretrained(request.form.get("kind", "folder")) as source:
        model = platform().add_pretrained(user(), name, source)
    flash(f"{model.name} ✓")
    return jsonify(pretrained=pretrained_summary(model), redirect=url_for("models.index")), 201


@blueprint.post("/pretrained/<pretrained>/remove")
def remove_pretrained(pretrained: str):
    platform().remove_pretrained(user(), pretrained)
    flash(f"{pretrained} — {t('common.delete')} ✓")
    return redirect(url_for("models.index"))


def pretrained_summary(model: PretrainedModel) -> dict:
    return {"name": model.name, "kind": model.kind, "files": len(model.files), "size": model.size, "owner": model.owner,
            "digest": model.digest, "added": iso(model.created_at), "can_change": can_change(model.owner)}  # fmt: skip


@contextmanager
def uploaded_pretrained(kind: str) -> Iterator[Path]:
    """The request's ``files`` written into a temporary folder under their relative paths (each checked before
    anything is written); yields that folder, or for ``kind=file`` the one file.

    Raises:
        PretrainedError: no files, a path that is not a plain relative path inside the folder, or a name given twice.
    """
    from nvflare_fdd.pretrained.manifest import PretrainedError, check_relative_path

    uploads = [f for f in request.files.getlist("files") if f.filename]
    names = [upload.filename or "" for upload in uploads]
    if not uploads:
        raise PretrainedError(t("pretrained.nothing"))
    if kind not in ("folder", "file") or (kind == "file" and (len(uploads) != 1 or "/" in names[0])):
        raise PretrainedError("upload a folder (kind=folder), or exactly one file (kind=file)")
    paths = [check_relative_path(name) for name in names]
    if len(set(paths)) != len(paths):
        raise PretrainedError("a file was uploaded twice; a folder has each path once")
    with tempfile.TemporaryDirectory(prefix="fdd-pretrained-") as temporary:
        root = Path(temporary) / "model"
        for upload, path in zip(uploads, paths):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            upload.save(root / path)
        yield root / paths[0] if kind == "file" else root
