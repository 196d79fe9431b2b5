import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from nodenet_lab.collection import make_importable

make_importable()  # nmstate_operator imports the collection's module_utils

pytest_plugins = ["nodenet_lab.pytest_plugin", "operator_fixtures"]


def pytest_collection_modifyitems(items):
    # Lifecycle tests own the machine's lab while they run: put them before the shared lab starts.
    items.sort(key=lambda item: item.get_closest_marker("lab_lifecycle") is None)


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> Path:
    """ansible_collections/nodenet/nmstate pointing at this checkout."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "nodenet").mkdir(parents=True)
    (root / "ansible_collections" / "nodenet" / "nmstate").symlink_to(
        Path(__file__).resolve().parents[1]
    )
    return root
