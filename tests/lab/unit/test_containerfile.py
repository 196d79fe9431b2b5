"""The image's collection holds what scripts/collection-tree.sh takes: the Containerfile copies
the same paths by hand (its build context has no git to ask), so the two lists must agree."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def tree_paths() -> set[str]:
    script = (REPO / "scripts" / "collection-tree.sh").read_text()
    listed = re.search(r"git ls-files -co --exclude-standard -- (.*?)\|", script, re.S).group(1)
    return {p for p in listed.replace("\\", " ").split() if (REPO / p).exists()}


def containerfile_paths() -> set[str]:
    stage = (REPO / "operator" / "Containerfile").read_text().split("AS collection", 1)[1]
    stage = stage.split("\nFROM ", 1)[0]
    paths = set()
    for line in stage.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            paths.update(sources)
    return paths


def test_the_image_copies_the_collection_files_collection_tree_takes():
    assert containerfile_paths() == tree_paths()
