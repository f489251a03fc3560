"""Plant layout for the 3D view, derived from the twin graph (no coordinates need to be configured).

Each twin that contains machines (a line) becomes a row; the machines it contains stand along the row; parts
(``hasPart``) are small blocks beside their machine; other equipment the site contains directly (a chiller)
gets a row of its own. Zones (targets of ``locatedIn``) are the floor, not blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CONTAINS = ("contains",)
PART = ("hasPart",)
SPACING = 5.0
ROW_GAP = 7.0


@dataclass(frozen=True)
class Placement:
    twin_id: str
    x: float
    z: float
    size: tuple[float, float, float]  # width, height, depth
    kind: str  # "machine" | "part"
    parent: str | None = None


def layout(twin_ids: Iterable[str], edges: Iterable[tuple[str, str, str]],
           ) -> list[Placement]:
    """``edges`` are (source, name, target). Deterministic: sorted ids at every level."""
    ids = sorted(set(twin_ids))
    children: dict[str, list[str]] = {}
    parts: dict[str, list[str]] = {}
    zones: set[str] = set()
    has_parent: set[str] = set()
    for src, name, dst in edges:
        if name in CONTAINS:
            children.setdefault(src, []).append(dst)
            has_parent.add(dst)
        elif name in PART:
            parts.setdefault(src, []).append(dst)
            has_parent.add(dst)
        elif name == "locatedIn":
            zones.add(dst)
    rows: list[tuple[str, list[str]]] = []
    loose: list[str] = []
    placed: set[str] = set()

    def visit(node: str) -> None:
        kids = sorted(k for k in children.get(node, []) if k not in zones)
        leaves = [k for k in kids if not children.get(k)]
        groups = [k for k in kids if children.get(k)]
        if node in has_parent or node not in roots:
            if leaves:
                rows.append((node, leaves))
                placed.update(leaves)
        else:
            loose.extend(leaves)
            placed.update(leaves)
        for g in groups:
            visit(g)

    roots = [i for i in ids if i not in has_parent]
    for root in roots:
        visit(root)
    # Twins outside any containment (e.g. a flat fleet of sensors) still appear, in rows of ten.
    part_ids = {p for ps in parts.values() for p in ps}
    orphans = [i for i in ids if i not in placed and i not in zones and not children.get(i) and i not in part_ids]
    if loose:
        rows.append(("", loose))
    for start in range(0, len(orphans), 10):
        rows.append(("", orphans[start:start + 10]))
    out: list[Placement] = []
    seen: set[str] = set()
    for r, (_, members) in enumerate(rows):
        members = [m for m in members if m not in seen]
        width = (len(members) - 1) * SPACING
        for i, m in enumerate(members):
            seen.add(m)
            x, z = i * SPACING - width / 2, r * ROW_GAP
            out.append(Placement(m, x, z, (2.2, 1.6, 2.2), "machine"))
            for j, p in enumerate(sorted(parts.get(m, []))):
                seen.add(p)
                out.append(Placement(p, x - 1.0 * (len(parts[m]) - 1) / 2 + j * 1.0, z - 2.2, (0.7, 0.6, 0.7), "part",
                                     parent=m))
    return out
