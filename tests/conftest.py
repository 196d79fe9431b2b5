import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lab"))

pytest_plugins = ["nodenet_lab.pytest_plugin"]


def pytest_collection_modifyitems(items):
    # Lifecycle tests own the machine's lab while they run: put them before the shared lab starts.
    items.sort(key=lambda item: item.get_closest_marker("lab_lifecycle") is None)
