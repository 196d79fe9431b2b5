"""How policies relate on a node, free of I/O: their declared order and their conflicts.

Order: a policy comes after another when its `spec.priority` is higher, or, at equal
priority, when it names the other in `spec.after` (directly or through others). Without
either, two policies are unordered: they roll out side by side, as in kubernetes-nmstate.

Conflict: two policies that select the same node set the same field to different values.
Fields are compared as written in the policies' desired states (a capture expression is
compared as its text), at the finest level a state names: interfaces by name and then key by
key through nested mappings (lists, such as addresses or ports, as a whole), routes by
destination and table, route rules by priority, DNS servers and search list, the hostname.
An interface one policy marks absent conflicts with any other policy's settings for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..status import canonical

MAX_LISTED_FIELDS = 5  # fields named in a message; status lists hold up to MAX_CONFLICTS
MAX_CONFLICTS = 20


def priority_of(policy: dict) -> int:
    value = (policy.get("spec") or {}).get("priority", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def after_of(policy: dict) -> list[str]:
    value = (policy.get("spec") or {}).get("after") or []
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


class Order:
    """The declared order among `policies` (objects by name)."""

    def __init__(self, policies: dict[str, dict]) -> None:
        self.policies = policies
        self._ancestors: dict[str, set[str]] = {}

    def problem(self, name: str) -> str | None:
        """Why policy `name`'s declared order cannot hold (a cycle, or an `after` that its
        priority contradicts), or None."""
        cycle = self._cycle_through(name)
        if cycle:
            return "spec.after forms a cycle: " + " -> ".join(cycle)
        mine = priority_of(self.policies[name])
        for earlier in after_of(self.policies[name]):
            if earlier in self.policies and priority_of(self.policies[earlier]) > mine:
                theirs = priority_of(self.policies[earlier])
                return (
                    f"spec.after names {earlier}, which has a higher priority ({theirs} > {mine})"
                    ": a policy cannot come after one that outranks it"
                )
        return None

    def _cycle_through(self, start: str) -> list[str] | None:
        """A path start -> ... -> start along spec.after, or None."""
        path = [start]
        seen = set()

        def walk(name: str) -> bool:
            for earlier in after_of(self.policies.get(name) or {}):
                if earlier == start:
                    path.append(earlier)
                    return True
                if earlier in seen or earlier not in self.policies:
                    continue
                seen.add(earlier)
                path.append(earlier)
                if walk(earlier):
                    return True
                path.pop()
            return False

        return path if walk(start) else None

    def ancestors(self, name: str) -> set[str]:
        """Every policy `name` comes after through spec.after (not through priority)."""
        if name not in self._ancestors:
            found: set[str] = set()
            todo = list(after_of(self.policies.get(name) or {}))
            while todo:
                earlier = todo.pop()
                if earlier in found or earlier not in self.policies or earlier == name:
                    continue
                found.add(earlier)
                todo.extend(after_of(self.policies[earlier]))
            self._ancestors[name] = found
        return self._ancestors[name]

    def before(self, a: str, b: str) -> bool:
        """Whether policy `a` comes before policy `b` by a declared rule."""
        pa, pb = priority_of(self.policies[a]), priority_of(self.policies[b])
        if pa != pb:
            return pa < pb
        return a in self.ancestors(b)

    def why(self, earlier: str, later: str) -> str:
        """The rule that puts `earlier` before `later`, in words."""
        pe, pl = priority_of(self.policies[earlier]), priority_of(self.policies[later])
        if pe != pl:
            return f"priority {pl} > {pe}"
        return f"{later} is declared after {earlier}"

    def reapply_before(self, a: str, b: str) -> bool:
        """Whether `a` goes before `b` when a node needs both again (a reboot): the declared
        order, then name order between unordered policies."""
        if self.before(a, b):
            return True
        return not self.before(b, a) and a < b


def fields(state: dict) -> dict[str, str]:
    """Every field a desired state sets, by path, with its value as canonical text."""
    found: dict[str, str] = {}
    for iface in state.get("interfaces") or []:
        if isinstance(iface, dict) and isinstance(iface.get("name"), str):
            entry = dict(iface)
            entry.setdefault("state", "up")
            _flatten(f"interfaces[{iface['name']}]", entry, found, skip=("name",))
    for route in _config_list(state.get("routes")):
        table = route.get("table-id", 254)
        found[f"routes[{route.get('destination')} table {table}]"] = canonical(route)
    for rule in _config_list(state.get("route-rules")):
        if "priority" in rule:
            found[f"route-rules[priority {rule['priority']}]"] = canonical(rule)
    dns = (state.get("dns-resolver") or {}).get("config")
    if isinstance(dns, dict):
        for key in ("server", "search"):
            if key in dns:
                found[f"dns-resolver.config.{key}"] = canonical(dns[key])
    hostname = state.get("hostname")
    if isinstance(hostname, dict):
        _flatten("hostname", hostname, found)
    return found


def _config_list(section) -> list[dict]:
    config = section.get("config") if isinstance(section, dict) else None
    return [entry for entry in config or [] if isinstance(entry, dict)]


def _flatten(path: str, value: dict, into: dict[str, str], skip=()) -> None:
    for key, item in value.items():
        if key in skip:
            continue
        if isinstance(item, dict) and item:
            _flatten(f"{path}.{key}", item, into)
        else:
            into[f"{path}.{key}"] = canonical(item)


def conflicting_fields(a: dict, b: dict) -> list[str]:
    """The fields two desired states set to different values, sorted."""
    fa, fb = fields(a), fields(b)
    clashes = {path for path in fa.keys() & fb.keys() if fa[path] != fb[path]}
    clashes |= _absent_against_settings(fa, fb) | _absent_against_settings(fb, fa)
    return sorted(clashes)


def _absent_against_settings(fa: dict[str, str], fb: dict[str, str]) -> set[str]:
    """An interface `fa` removes while `fb` configures it."""
    absent = canonical("absent")
    found = set()
    for path, value in fa.items():
        if path.endswith(".state") and value == absent:
            prefix = path[: -len("state")]
            if any(other.startswith(prefix) for other in fb):
                found.add(path)
    return found


@dataclass
class Relation:
    """Another policy on the same node that sets some of the same fields differently."""

    policy: str
    fields: list[str]
    # "conflict" (unordered: neither is applied over the other), "overrides" (this policy
    # comes after the other, so its values win), "overridden" (the other comes after).
    kind: str
    rule: str = ""

    def as_status(self) -> dict:
        entry = {"policy": self.policy, "fields": self.fields[:MAX_CONFLICTS], "kind": self.kind}
        if self.rule:
            entry["rule"] = self.rule
        return entry


def relations(name: str, state: dict, others: dict[str, dict], order: Order) -> list[Relation]:
    """How policy `name` (setting `state`) relates to each of `others` (policy objects that
    select the same node), for those that set a field differently."""
    found = []
    for other_name in sorted(others):
        other_state = (others[other_name].get("spec") or {}).get("desiredState") or {}
        clash = conflicting_fields(state, other_state)
        if not clash:
            continue
        if order.before(other_name, name):
            found.append(Relation(other_name, clash, "overrides", order.why(other_name, name)))
        elif order.before(name, other_name):
            found.append(Relation(other_name, clash, "overridden", order.why(name, other_name)))
        else:
            found.append(Relation(other_name, clash, "conflict"))
    return found


def listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_LISTED_FIELDS])
    more = len(paths) - MAX_LISTED_FIELDS
    return shown + (f" and {more} more" if more > 0 else "")


def conflict_message(conflicts: list[Relation]) -> str:
    parts = [f"policy {r.policy} sets {listed(r.fields)} differently" for r in conflicts]
    return (
        "not applied: "
        + "; ".join(parts)
        + ". Change one of the policies, or order them (spec.priority or spec.after)"
    )


def override_note(overrides: list[Relation]) -> str:
    parts = [f"{listed(r.fields)} of policy {r.policy} ({r.rule})" for r in overrides]
    return "; overrides " + "; ".join(parts) if parts else ""
