"""The in-cluster suite's summary: which pods ran the operator, their restarts, what was
deleted on purpose, and how long the uninstall took."""

from in_cluster import ALL


def pytest_terminal_summary(terminalreporter):
    for operator in ALL:
        terminalreporter.section("in-cluster operator")
        for name, restarts in sorted(operator.restarts.items()):
            deleted = " (killed on purpose by a test)" if name in operator.deleted else ""
            terminalreporter.write_line(f"pod {name}: {restarts} restarts{deleted}")
        if operator.uninstall_seconds is not None:
            terminalreporter.write_line(f"uninstall took {operator.uninstall_seconds:.1f} s")
