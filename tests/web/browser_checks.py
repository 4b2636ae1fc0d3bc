"""What the browser test checks on every page: no English in the Korean UI (outside user data), nothing
off-screen, no page error; and how long the page took to load."""

from __future__ import annotations

import re

# words the Korean UI shows on purpose: the guide's own terms, product and format names, units
ALLOWED_WORDS = {
    "FDD", "AI", "Model", "Level", "Test", "Type", "Measurement", "Subject", "Round", "Global", "Local", "ADMET",
    "PK", "FedAvg", "FedProx", "SCAFFOLD", "English", "CSV", "KDA", "NVFlare", "PyTorch", "GPU", "RMSE", "MSE", "MAE",
    "AUROC", "AUPRC", "ROC", "AUC", "F1", "R²", "UTF", "YAML", "OmegaConf", "Python", "import", "from", "def",
    "async", "await", "nn", "Module", "torch", "zip", "deflate", "SSH", "URL", "https", "http", "PyPI", "NAME",
    "VERSION", "pkg", "min", "s", "h", "v", "μ", "DEVICE", "safetensors", "pt", "py", "txt", "yaml", "yml", "json",
    "ckpt", "pth", "ipynb", "pyc", "sh", "whl", "xlsx", "csv", "bin", "simulator", "controller", "manager",
    "FLFedProx", "FLScaffold", "Pearson", "Spearman", "key", "value", "metric", "Class", "version", "Sign",
    "Hugging", "Face", "B", "KB", "MB", "GB", "rmse", "mse", "mae", "r2", "accuracy", "auroc", "auprc", "ef",  # sizes; metric names (code)
}  # fmt: skip
CODE_LIKE = re.compile(r"[\w.\-]*[._/:][\w.\-/:]*|\w+\(\)|\w*_\w*")
"""File names, identifiers, URLs, labels such as Class:1.0 — code, not prose."""
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")

VISIBLE_TEXT = """
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest("script, style, noscript, [hidden], dialog:not([open])")) continue;
  if (!parent.getClientRects().length || getComputedStyle(parent).visibility === "hidden") continue;
  const text = node.textContent.trim();
  if (text) texts.push(text);
}
for (const node of document.querySelectorAll("input[placeholder], [title], [aria-label]")) {
  if (node.closest("[hidden], dialog:not([open])") || !node.getClientRects().length) continue;
  for (const attribute of ["placeholder", "title", "aria-label"]) if (node.getAttribute(attribute)) texts.push(node.getAttribute(attribute));
}
return texts;
"""

OFF_SCREEN = """
const width = document.documentElement.clientWidth;
const out = [];
if (document.documentElement.scrollWidth > width + 1) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
for (const node of document.body.querySelectorAll("*")) {
  if (node.closest("[hidden], dialog:not([open]), script, style, option")) continue;
  const rects = node.getClientRects();
  if (!rects.length) continue;
  const box = node.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) continue;
  let scroller = node.parentElement, inside = false;
  while (scroller && scroller !== document.body) {
    const overflow = getComputedStyle(scroller).overflowX;
    if (overflow === "auto" || overflow === "scroll" || overflow === "hidden") { inside = true; break; }
    scroller = scroller.parentElement;
  }
  if (inside) continue;  // inside a scrolling box (a wide table): reachable by scrolling it
  if (box.right > width + 1 || box.left < -1) out.push(`${node.tagName.toLowerCase()}#${node.id}.${node.className} [${Math.round(box.left)}, ${Math.round(box.right)}] of ${width}`);
}
return out.slice(0, 10);
"""

WRAPPED_BADGES = """
return [...document.querySelectorAll(".badge, .badge-button, table.grid th, .brand, .mainnav a")]
  .filter((node) => node.getClientRects().length && !node.closest("[hidden]"))
  .filter((node) => node.getClientRects().length > 1 || node.getBoundingClientRect().height > 2.2 * parseFloat(getComputedStyle(node).fontSize) + 14)
  .map((node) => `${node.tagName}.${node.className}: ${node.textContent.trim()}`);
"""

LOAD_TIME = """
const [entry] = performance.getEntriesByType("navigation");
return entry ? entry.loadEventEnd - entry.startTime : null;
"""


def english_words(texts: list[str], user_data: set[str]) -> list[str]:
    """Latin-letter words in ``texts`` that are neither user data, nor code-like, nor on the allowed list."""
    found = []
    for text in texts:
        for item in sorted(user_data, key=len, reverse=True):
            text = text.replace(item, " ")
        text = CODE_LIKE.sub(" ", text)
        found.extend(word for word in WORD.findall(text) if word not in ALLOWED_WORDS)
    return found


def page_errors(driver) -> list[str]:
    """Script errors the page logged (responses the UI expects, such as a refused 409, are not errors)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if "Failed to load resource" in entry["message"] or "favicon.ico" in entry["message"]:
            continue
        errors.append(entry["message"])
    return errors


def check_page(driver, where: str, korean: bool, user_data: set[str]) -> None:
    """Fail on English prose in the Korean UI, on anything off-screen or wrapped letter by letter, on page errors."""
    problems = []
    if korean:
        words = english_words(driver.execute_script(VISIBLE_TEXT), user_data)
        if words:
            problems.append(f"English in the Korean UI: {sorted(set(words))}")
    off = driver.execute_script(OFF_SCREEN)
    if off:
        problems.append(f"off-screen: {off}")
    wrapped = driver.execute_script(WRAPPED_BADGES)
    if wrapped:
        problems.append(f"wrapped: {wrapped}")
    errors = page_errors(driver)
    if errors:
        problems.append(f"page errors: {errors}")
    assert not problems, f"{where} ({driver.execute_script('return innerWidth')} px): " + "; ".join(problems)


def load_time(driver) -> float | None:
    """Milliseconds from navigation to the load event of the current page."""
    return driver.execute_script(LOAD_TIME)
