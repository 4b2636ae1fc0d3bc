// AI models page: the register/edit dialog with drag-and-drop upload, and every problem shown by its file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const labels = FDD.json("labels");
  const {dialog, form, submit, showError, busy} = FDD.formDialog("model");
  const title = document.getElementById("model-dialog-title");
  const hint = document.getElementById("drop-hint");
  const dropzone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const list = document.getElementById("file-list");
  const className = document.getElementById("class-name");
  const version = document.getElementById("version");
  const description = document.getElementById("description");
  let selected = new Map();  // path inside the bundle (a dropped folder keeps its sub-folders) -> File
  let problems = [];         // [{file, line, message}]
  let target = form.dataset.register;

  function open(mode, model) {
    selected = new Map();
    problems = [];
    showError("");
    const editing = mode === "edit";
    title.textContent = editing ? title.dataset.edit : title.dataset.new;
    hint.textContent = editing ? hint.dataset.edit : hint.dataset.new;
    submit.textContent = editing ? labels.save : labels.register;
    className.value = editing ? model.class : "";
    version.value = editing ? model.version : "";
    className.readOnly = version.readOnly = editing;
    description.value = editing ? model.description : "";
    target = editing
      ? `${form.dataset.register}/${encodeURIComponent(model.class)}/${encodeURIComponent(model.version)}`
      : form.dataset.register;
    render();
    dialog.showModal();
  }

  function render() {
    // a folder's problem goes once no chosen file lies in that folder
    problems = problems.filter((p) => !p.file || !p.file.endsWith("/") || [...selected.keys()].some((path) => path.includes(p.file)));
    list.replaceChildren();
    const byFile = new Map();
    const general = [];
    for (const problem of problems) {
      if (!problem.file) { general.push(problem); continue; }
      if (!byFile.has(problem.file)) byFile.set(problem.file, []);
      byFile.get(problem.file).push(problem);
    }
    const names = [...selected.keys()];
    for (const name of byFile.keys()) if (!selected.has(name)) names.push(name);
    for (const name of names) {
      const file = selected.get(name);
      const own = byFile.get(name) || [];
      const remove = file ? FDD.el("button", {type: "button", class: "small danger-outline remove", text: labels.remove,
                                               "aria-label": `${labels.remove} ${name}`}) : null;
      if (remove) remove.addEventListener("click", () => { selected.delete(name); problems = problems.filter((p) => p.file !== name); render(); });
      const item = FDD.el("li", {class: own.length ? "file bad" : "file", "data-file": name},
        FDD.el("span", {class: "name", text: name}),
        FDD.el("span", {class: "size", text: file ? size(file.size) : name.endsWith("/") ? "" : labels.missing}),
        remove);
      if (own.length) {
        item.append(FDD.el("ul", {class: "problems"},
          ...own.map((p) => FDD.el("li", {class: "problem", text: (p.line ? `${labels.line} ${p.line}: ` : "") + p.message}))));
      }
      list.append(item);
    }
    for (const problem of general) list.append(FDD.el("li", {class: "file bad"}, FDD.el("span", {class: "problem", text: problem.message})));
  }

  function size(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  // files: [File, path] pairs; the path is the file's place in the bundle ("utils/helpers.py" from a folder)
  function add(files) {
    for (const [file, path] of files) selected.set(path, file);
    problems = problems.filter((p) => !files.some(([, path]) => path === p.file || path.startsWith(p.file)));
    render();
  }

  // A dropped folder gives every file in it with its path, sub-folders included, so the server validates it as
  // it would a zip of that folder (and says why a sub-folder cannot work).
  function folderFiles(entry, prefix) {
    return new Promise((resolve) => {
      const files = [];
      const reader = entry.createReader();
      const next = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve(files);
        for (const child of entries) {
          const path = `${prefix}${child.name}`;
          if (child.isFile) {
            const file = await new Promise((done) => child.file(done, () => done(null)));
            if (file) files.push([file, path]);
          } else if (child.isDirectory) {
            files.push(...await folderFiles(child, `${path}/`));
          }
        }
        next();
      }, () => resolve(files));
      next();
    });
  }

  dropzone.addEventListener("click", () => input.click());
  dropzone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
  const folderInput = document.getElementById("folder-input");
  document.getElementById("pick-folder").addEventListener("click", () => folderInput.click());
  folderInput.addEventListener("change", () => {  // a folder's files, with their paths inside it
    add([...folderInput.files].map((file) => [file, file.webkitRelativePath || file.name]));
    folderInput.value = "";
  });
  input.addEventListener("change", () => {
    add([...input.files].map((file) => [file, file.webkitRelativePath || file.name]));
    input.value = "";
  });
  ["dragenter", "dragover"].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => dropzone.addEventListener(type, () => dropzone.classList.remove("over")));
  dropzone.addEventListener("drop", async (event) => {
    event.preventDefault();
    const items = [...(event.dataTransfer.items || [])];
    const entries = items.map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    if (entries.some((entry) => entry.isDirectory)) {
      const files = [];
      for (const entry of entries) {
        if (entry.isDirectory) files.push(...await folderFiles(entry, ""));  // the folder's contents are the bundle
        else {
          const file = await new Promise((done) => entry.file(done, () => done(null)));
          if (file) files.push([file, file.name]);
        }
      }
      add(files);
    } else {
      add([...event.dataTransfer.files].map((file) => [file, file.name]));
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const data = new FormData();
    data.append("class_name", className.value.trim());
    data.append("version", version.value.trim());
    data.append("description", description.value);
    const metricNames = document.getElementById("metric-names");
    if (metricNames) data.append("metric_names", metricNames.value);
    for (const [path, file] of selected.entries()) data.append("files", file, path);
    const result = await busy(labels.uploading, FDD.post(target, data));
    if (result.ok) { window.location = result.body.redirect; return; }
    problems = result.body.problems || [];
    render();
    showError(result.body.error || `HTTP ${result.status}`);
  });

  document.getElementById("new-model").addEventListener("click", () => open("new"));
  document.querySelectorAll(".edit-model").forEach((button) => {
    button.addEventListener("click", () => open("edit", button.dataset));
  });
});

// The pretrained-model store: upload a folder (each file under its path inside the folder) or one file, with progress.
document.addEventListener("DOMContentLoaded", () => {
  const labels = FDD.json("labels");
  const store = FDD.formDialog("pretrained");
  if (!store) return;
  const {dialog, form, submit, showError, busy} = store;
  const name = document.getElementById("pretrained-name");
  const folderInput = document.getElementById("pretrained-folder");
  const fileInput = document.getElementById("pretrained-file");
  const chosen = document.getElementById("pretrained-chosen");
  const progress = document.getElementById("pretrained-progress");
  let files = [];     // [{file, path}]
  let kind = "folder";

  function size(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} B`;
  }

  document.querySelectorAll("#pretrained-table td.size").forEach((cell) => { cell.textContent = size(Number(cell.dataset.bytes)); });

  function choose(list, picked) {
    kind = picked;
    // a folder's files are named by their path inside it (its own name dropped); version control stays behind
    files = [...list].map((file) => {
      const parts = (file.webkitRelativePath || file.name).split("/");
      return {file, path: picked === "folder" && parts.length > 1 ? parts.slice(1).join("/") : file.name};
    }).filter((item) => !item.path.split("/").includes(".git"));
    const total = files.reduce((sum, item) => sum + item.file.size, 0);
    chosen.textContent = files.length ? `${files.length} ${labels.pretrained_files}, ${size(total)}` : "";
    showError("");
  }

  document.getElementById("new-pretrained").addEventListener("click", () => {
    form.reset();
    files = [];
    chosen.textContent = "";
    progress.hidden = true;
    showError("");
    dialog.showModal();
  });
  document.getElementById("choose-folder").addEventListener("click", () => folderInput.click());
  document.getElementById("choose-file").addEventListener("click", () => fileInput.click());
  folderInput.addEventListener("change", () => choose(folderInput.files, "folder"));
  fileInput.addEventListener("change", () => choose(fileInput.files, "file"));

  // XMLHttpRequest, not fetch: it reports the upload's progress (a model can be several GB)
  function send(data) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", form.dataset.target);
      request.setRequestHeader("X-CSRF-Token", document.querySelector('meta[name="csrf-token"]').content);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        progress.value = Math.round((100 * event.loaded) / event.total);
        if (event.loaded === event.total) submit.textContent = labels.pretrained_storing;
      });
      request.addEventListener("load", () => {
        let body;
        try { body = JSON.parse(request.responseText); } catch (e) { body = {error: request.statusText}; }
        resolve({ok: request.status >= 200 && request.status < 300, status: request.status, body});
      });
      request.addEventListener("error", () => resolve({ok: false, status: 0, body: {error: "network error"}}));
      request.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!files.length) { showError(labels.pretrained_nothing); return; }
    const data = new FormData();
    data.append("name", name.value.trim());
    data.append("kind", kind);
    for (const item of files) data.append("files", item.file, item.path);
    progress.value = 0;
    progress.hidden = false;
    showError("");
    const result = await busy(labels.pretrained_uploading, send(data));
    progress.hidden = true;
    if (result.ok) { window.location = result.body.redirect; return; }
    showError(result.body.error || `HTTP ${result.status}`);
  });
});
