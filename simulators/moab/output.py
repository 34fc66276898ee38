"""How the `mam-list-*` commands print: an aligned table by default, `|`-separated with `--raw`,
and no heading with `--quiet`.

    $ mam-list-accounts --show Name,Active
    Name    Active
    ------- ------
    chem    True

    $ mam-list-accounts --raw --show Name,Active
    Name|Active
    chem|True

    $ mam-list-accounts --raw --quiet --show Name,Active
    chem|True
"""

from __future__ import annotations

from collections.abc import Sequence


def amount(value: float) -> str:
    """Credits with three decimals, as MAM prints balances (`76358.562`)."""
    return f"{value:.3f}"


def flag(value: object) -> str:
    return "True" if value else "False"


def render(columns: Sequence[str], rows: Sequence[Sequence[str]], raw: bool, quiet: bool) -> str:
    lines: list[str] = []
    if raw:
        if not quiet:
            lines.append("|".join(columns))
        lines.extend("|".join(row) for row in rows)
    else:
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        if not quiet:
            lines.append(" ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
            lines.append(" ".join("-" * w for w in widths))
        lines.extend(" ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows)
    return "".join(line.rstrip() + "\n" for line in lines)
