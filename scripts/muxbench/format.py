"""How muxbench's reports write numbers, configurations and the machine: one way for every table,
plot and report.
"""

import math


def fmt_count(x, digits=3, trim=False):
    """12345 -> '12.3k', 261807 -> '262k', 1.5e6 -> '1.50M' ('1.5M' with trim, for ticks)."""
    if x is None:
        return "–"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return _sig(x / scale, digits, trim) + suffix
    return _sig(x, digits, trim)


def fmt_us(x, trim=False):
    """A latency in µs, switching to ms or s when large: 125 µs, 4.73 ms, 1.20 s."""
    if x is None:
        return "–"
    if x >= 1e6:
        return _sig(x / 1e6, 3, trim) + " s"
    if x >= 1e3:
        return _sig(x / 1e3, 3, trim) + " ms"
    if x < 1 and x > 0:
        return _sig(x * 1e3, 3, trim) + " ns"
    return _sig(x, 3, trim) + " µs"


def fmt_pct(x, signed=False):
    if x is None:
        return "–"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def fmt_bytes(n):
    """Message sizes: 128 B, 4 KiB, 1 MiB."""
    for scale, suffix in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {suffix}"
    return f"{n} B"


def fmt_seconds(s):
    if s is None:
        return "?"
    return f"{s:g} s"


def _sig(x, digits, trim=False):
    """x to `digits` significant figures without scientific notation (262, 26.2, 2.62).

    trim drops trailing zeros ('50.0' -> '50'): right for axis ticks, wrong for tables,
    where the zeros say how precise the number is.
    """
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:.{decimals}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def config_label(key):
    """'epoll, 1000 clients, 128 B' — how a configuration is named to humans."""
    backend, clients, size = key[:3]
    rate = ""
    if len(key) > 3:
        rate = f", open loop at {key[3]}" + (" of capacity" if key[3].endswith("%") else " req/s")
    return f"{backend}, {clients:,} client{'s' if clients != 1 else ''}, {fmt_bytes(size)}{rate}"


def environment_line(env):
    """One line naming the machine and build: goes under every plot and into reports."""
    parts = [
        env.get("kernel"),
        env.get("cpu_model"),
        f"{env['online_cores']} cores" if env.get("online_cores") else None,
        " ".join(p for p in (env.get("compiler"), env.get("build_type")) if p) or None,
        f"commit {env['git_commit']}" if env.get("git_commit") else None,
        env.get("date"),
    ]
    return " · ".join(str(p) for p in parts if p)


def print_aligned(headers, rows):
    """A plain-text table: columns padded to their widest cell, a rule under the headers."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for i, row in enumerate([headers] + rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
