// Jobs page: the new-job dialog (name rules as you type, model picker, sites, saved site groups).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = FDD.json("page-data");
  const labels = FDD.json("labels");
  const dialog = document.getElementById("job-dialog");
  const form = document.getElementById("job-form");
  const name = document.getElementById("job-name");
  const rule = document.getElementById("name-rule");
  const error = document.getElementById("job-error");
  const groupSelect = document.getElementById("group-select");
  const groupName = document.getElementById("group-name");
  const pattern = new RegExp(page.name_pattern);
  const taken = new Set(page.job_names);
  let groups = page.groups;

  function checkName() {
    const value = name.value.trim();
    let message = labels.rule, state = "";
    if (value && !pattern.test(value)) { message = labels.bad; state = "bad"; }
    else if (taken.has(value)) { message = labels.taken; state = "bad"; }
    else if (value) { message = labels.ok; state = "ok"; }
    rule.textContent = message;
    rule.className = `rule ${state}`;
    name.setCustomValidity(state === "bad" ? message : "");
  }

  const siteBoxes = () => [...form.querySelectorAll('input[name="sites"]')];
  const checkedSites = () => siteBoxes().filter((box) => box.checked).map((box) => box.value);

  function renderGroups(selectedName) {
    groupSelect.replaceChildren(FDD.el("option", {value: "", text: labels.choose}),
      ...groups.map((group) => FDD.el("option", {value: group.name, text: `${group.name} (${group.sites.join(", ")})`})));
    groupSelect.value = selectedName || "";
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  groupSelect.addEventListener("change", () => {
    const group = groups.find((g) => g.name === groupSelect.value);
    if (!group) return;
    siteBoxes().forEach((box) => { box.checked = group.sites.includes(box.value); });
  });

  document.getElementById("group-save").addEventListener("click", async () => {
    const data = new FormData();
    data.append("name", groupName.value.trim());
    checkedSites().forEach((site) => data.append("sites", site));
    const result = await FDD.post(form.dataset.groups, data);
    if (!result.ok) return showError(result.body.error);
    showError("");
    groups = result.body.groups;
    renderGroups(groupName.value.trim());
    groupName.value = "";
  });

  document.getElementById("group-delete").addEventListener("click", async () => {
    if (!groupSelect.value) return;
    const result = await FDD.post(`${form.dataset.groups}/${encodeURIComponent(groupSelect.value)}/delete`, new FormData());
    if (!result.ok) return showError(result.body.error);
    groups = result.body.groups;
    renderGroups("");
  });

  name.addEventListener("input", checkName);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    checkName();
    if (!form.reportValidity()) return;
    const result = await FDD.post(form.dataset.create, new FormData(form));
    if (result.ok) { window.location = result.body.redirect; return; }
    showError(result.body.error || `HTTP ${result.status}`);
  });

  document.getElementById("job-cancel").addEventListener("click", () => dialog.close());
  const newJob = document.getElementById("new-job");
  newJob.addEventListener("click", () => {
    showError("");
    renderGroups("");
    checkName();
    dialog.showModal();
  });
});
