"""Scores name pairs with nomenklatura's logic-v2 (the OpenSanctions matcher), for bench_names.py.

Run in a separate virtualenv holding nomenklatura (it is no dependency of the project):

    /tmp/nkvenv/bin/python benchmarks/nk_logic_v2.py < pairs.jsonl > scores.txt

Each input line is ``{"q": name, "qk": kind, "qb": birth date or null, "s": name, "sk": kind, "sb": ...}``;
each output line is the score.
"""

import json
import sys

from followthemoney import model
from nomenklatura.matching import ScoringConfig, get_algorithm


def _entity(n, name, kind, born):
    e = model.make_entity("Person" if kind == "person" else "Company")
    e.id = f"e{n}"
    e.add("name", name)
    if born and kind == "person":
        e.add("birthDate", born)
    return e


def main():
    algo = get_algorithm("logic-v2")
    config = ScoringConfig.defaults()
    out = []
    for n, line in enumerate(sys.stdin):
        p = json.loads(line)
        q = _entity(2 * n, p["q"], p["qk"], p["qb"])
        s = _entity(2 * n + 1, p["s"], p["sk"], p["sb"])
        out.append(f"{algo.compare(q, s, config).score:.4f}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
