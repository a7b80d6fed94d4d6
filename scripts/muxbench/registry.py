"""The backends as the registry lists them (`bench --list-backends --json`), in its order, with the
colour and marker each one keeps in every plot and table; no backend name is written here.
"""

import functools

from muxbench.bench_binary import bench_json

# The backends, their order and their variants come from the registry, through
# `bench --list-backends --json` (no backend name is written here). Colours and markers go by
# position: base backends in registry order take BASE_COLORS, variants VARIANT_COLORS, so a
# backend looks the same in every plot and table as long as the registry keeps its order.
BASE_COLORS = ("#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#17becf")
VARIANT_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173")
MARKERS = ("s", "v", "^", "o", "D", "P", "X", "*", "h", "<", ">", "p")


@functools.lru_cache(maxsize=None)
def entries():
    """[{name, base, model, ...}] from `bench --list-backends --json`; None without a bench binary."""
    return bench_json("--list-backends", "--json")


def backend_order(names=()):
    """Registry order when a bench binary is found; else the names given, alphabetically."""
    listed = entries()
    if listed is not None:
        return tuple(e["name"] for e in listed)
    return tuple(sorted(names))


def sort_backends(names):
    """Backends in registry order; names the registry does not know after them, alphabetically."""
    order = backend_order(names)
    known = [b for b in order if b in names]
    return known + sorted(n for n in names if n not in order)


def _style_index(backend):
    """(is_variant, position among the bases or among the variants); None when unknown."""
    listed = entries()
    if listed is None:
        return None
    bases = [e["name"] for e in listed if e["name"] == e["base"]]
    variants = [e["name"] for e in listed if e["name"] != e["base"]]
    if backend in bases:
        return False, bases.index(backend)
    if backend in variants:
        return True, variants.index(backend)
    return None


def backend_color(backend):
    """The colour of a backend by its registry position; unknown ones get a stable colour from their name."""
    index = _style_index(backend)
    if index is not None:
        palette = VARIANT_COLORS if index[0] else BASE_COLORS
        return palette[index[1] % len(palette)]
    return VARIANT_COLORS[sum(map(ord, backend)) % len(VARIANT_COLORS)]


def backend_marker(backend):
    """The marker of a backend by its registry position."""
    order = backend_order((backend,))
    return MARKERS[(order.index(backend) if backend in order else sum(map(ord, backend))) % len(MARKERS)]
