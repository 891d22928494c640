"""References to the project's docs point at files and sections that exist, and never at files a user's clone lacks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `docs/method.md, "Resets and recovery"` or `docs/method.md "Tasks"` (a line break may sit anywhere in the name)
SECTION_REF = re.compile(r'(docs/[\w-]+\.md),? \(?"([^"]+)"')
DIRS = ("sim", "motion", "tasks", "controllers", "training", "evaluation", "app", "bench", "tests", "docs")


def project_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "launch.py", ROOT / "cli_common.py"]
    for d in DIRS:
        files += sorted(p for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md"))
    return [p for p in files if p.is_file() and p.name != Path(__file__).name]


def headings(doc: Path) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", doc.read_text(), flags=re.M)}


def test_cited_doc_sections_exist():
    cited = 0
    bad = []
    for p in project_files():
        text = " ".join(p.read_text(errors="replace").split())  # joins names broken across comment lines
        text = re.sub(r" ?# ?", " ", text) if p.suffix == ".py" else text
        for doc, section in SECTION_REF.findall(text):
            cited += 1
            if not (ROOT / doc).is_file() or not any(h.startswith(section) for h in headings(ROOT / doc)):
                bad.append(f"{p.relative_to(ROOT)}: {doc} {section!r}")
    assert cited >= 10, "the pattern finds the code's citations"
    assert not bad, f"citations of missing docs or sections: {bad}"


def test_no_references_outside_the_repository():
    """The method lives in docs/method.md; no file points at material a user's clone does not have."""
    bad = [
        str(p.relative_to(ROOT))
        for p in project_files()
        if re.search(r"ase-facts|skills-method|stack-notes|shared/spec|\.\./shared|docs/conventions\.md", p.read_text())
    ]
    assert not bad, f"references outside the repository: {bad}"


def test_readme_status_rows_are_one_line():
    """The README's status table says where each part stands; the history behind a row is in docs/campaign.md."""
    status = (ROOT / "README.md").read_text().split("## Status", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in status.splitlines() if line.startswith("| ") and not line.startswith("| issue")]
    assert len(rows) >= 5
    long = [row[:60] for row in rows if len(row) > 200]
    assert not long, f"status rows over 200 characters (move the detail to docs/campaign.md): {long}"
