"""Text layout as the docker CLI draws it (Go's tabwriter, Ellipsis)."""

from __future__ import annotations

# docker's table writer: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
MIN_WIDTH = 10
PADDING = 3


def render_table(rows: list[list[str]], min_width: int = MIN_WIDTH) -> str:
    """Columns padded to the widest cell + 3 (at least `min_width`); the last column
    unpadded."""
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    widths = [min_width] * columns
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], display_width(cell) + PADDING)
    lines = []
    for row in rows:
        parts = [
            cell + " " * (widths[index] - display_width(cell))
            for index, cell in enumerate(row[:-1])
        ]
        lines.append("".join(parts) + (row[-1] if row else ""))
    return "\n".join(lines) + "\n"


def display_width(text: str) -> int:
    # Go's tabwriter counts runes, which is len() of a Python str.
    return len(text)


def ellipsis(text: str, max_width: int) -> str:
    """Shorten to max_width characters, the last being "…" (docker's formatter.Ellipsis)."""
    if len(text) <= max_width:
        return text
    if max_width <= 0:
        return ""
    return text[: max_width - 1] + "…"


def short_id(identifier: str) -> str:
    """Docker's TruncateID: drop the algorithm, keep 12 hex digits."""
    if ":" in identifier:
        identifier = identifier.split(":", 1)[1]
    return identifier[:12]


def join_host_port(host: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def natural_less(first: str, second: str) -> bool:
    """sortorder.NaturalLess, which docker sorts names and port lines with: runs of digits
    compare as numbers ("net9" before "net10"), and digits sort before other characters."""
    a, b = first.encode(), second.encode()
    i = j = 0
    while i < len(a) and j < len(b):
        digit_a, digit_b = 48 <= a[i] <= 57, 48 <= b[j] <= 57
        if digit_a != digit_b:
            return digit_a
        if not digit_a:
            if a[i] != b[j]:
                return a[i] < b[j]
            i += 1
            j += 1
            continue
        while i < len(a) and a[i] == 48:
            i += 1
        while j < len(b) and b[j] == 48:
            j += 1
        start_a, start_b = i, j
        while i < len(a) and 48 <= a[i] <= 57:
            i += 1
        while j < len(b) and 48 <= b[j] <= 57:
            j += 1
        if i - start_a != j - start_b:
            return i - start_a < j - start_b
        if a[start_a:i] != b[start_b:j]:
            return a[start_a:i] < b[start_b:j]
        if start_a != start_b:
            return start_a < start_b
    return len(a) < len(b)


def natural_sorted(items: list[str]) -> list[str]:
    import functools

    def compare(x: str, y: str) -> int:
        return -1 if natural_less(x, y) else (1 if natural_less(y, x) else 0)

    return sorted(items, key=functools.cmp_to_key(compare))
