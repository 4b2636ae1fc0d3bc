// Jobs page: the live jobs list, and the new-job dialog (name rules as you type, model picker, sites, saved
// site groups).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = FDD.json("page-data");
  const labels = FDD.json("labels");
  const {dialog, form, showError} = FDD.formDialog("job");
  const name = document.getElementById("job-name");
  const rule = document.getElementById("name-rule");
  const groupSelect = document.getElementById("group-select");
  const groupName = document.getElementById("group-name");
  const groupError = document.getElementById("group-error");
  const pattern = new RegExp(page.name_pattern);
  let taken = new Set(page.job_names.map((n) => n.toLowerCase()));

  // the list follows the jobs' states without a reload
  const rows = document.getElementById("jobs-rows");
  FDD.live(page.urls.live, (body) => {
    rows.innerHTML = body.rows;
    FDD.localTimes(rows);
    taken = new Set(body.names.map((n) => n.toLowerCase()));
    document.getElementById("jobs-table").hidden = !body.names.length;
    document.getElementById("jobs-empty").hidden = body.names.length > 0;
  }, 1000);
  let groups = page.groups;

  function checkName() {
    const value = name.value.trim();
    let message = `${labels.rule} · ${labels.rule_limit}`, state = "";
    if (value && !pattern.test(value)) { message = labels.bad; state = "bad"; }
    else if (taken.has(value.toLowerCase())) { message = labels.taken; state = "bad"; }
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
    FDD.say(groupError, result.ok ? "" : result.body.error);
    if (!result.ok) return;
    groups = result.body.groups;
    renderGroups(groupName.value.trim());
    groupName.value = "";
  });

  document.getElementById("group-delete").addEventListener("click", async () => {
    if (!groupSelect.value) return;
    const result = await FDD.post(`${form.dataset.groups}/${encodeURIComponent(groupSelect.value)}/delete`, new FormData());
    FDD.say(groupError, result.ok ? "" : result.body.error);
    if (!result.ok) return;
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

  const newJob = document.getElementById("new-job");
  newJob.addEventListener("click", () => {
    showError("");
    FDD.say(groupError, "");
    renderGroups("");
    checkName();
    dialog.showModal();
  });
});
