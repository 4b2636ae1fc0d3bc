// Data information page: while the sites' statistics are being collected again, follow the refresh live;
// when it ends, show the new statistics.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = FDD.json("page-data");
  const status = document.getElementById("refresh-status");
  if (!status || !page.urls) return;
  const labels = FDD.json("refresh-labels");
  const button = document.getElementById("refresh-data");
  let seen = page.refresh;
  const poller = FDD.live(page.urls.live, (body) => {
    status.dataset.state = body.state;
    status.textContent = labels[body.state] || "";
    button.disabled = body.state === "running";
    if (seen === "running" && body.state !== "running") window.location.reload();  // the new statistics
    seen = body.state;
  }, 2000);
  document.getElementById("refresh-form").addEventListener("fdd:acted", () => { seen = "running"; poller.poll(); });
});
