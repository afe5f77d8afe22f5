"""Hypothesis strategies for command frames an executor must refuse: hostile values, unknown fields, garbage.

Every frame drawn from `hostile_frames` must be refused by an armed executor
(undecodable, or a Start that `start_refusal` turns down): none may start a run,
dismiss the executor or be answered with anything but a refusal. `valid_starts`
draws Starts within every bound that an armed executor must obey.
"""

from __future__ import annotations

import json
import math

from hypothesis import strategies as st

from salvo.common.identifiers import MAX_IDENTIFIER_CHARS, check_identifier
from salvo.common.protocol import (
    MAX_FLEET,
    MAX_FLEET_USERS,
    MAX_PARAMS,
    MAX_SPAWN_RATE,
    MIN_SPAWN_RATE,
    FleetLoad,
    LoadMode,
    Start,
)

IDENTIFIERS = st.from_regex(rf"\A[A-Za-z0-9][A-Za-z0-9._\-]{{0,{MAX_IDENTIFIER_CHARS - 1}}}\Z")
NOT_A_NUMBER = st.one_of(st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2))
HOSTILE_IDS = st.one_of(
    st.sampled_from(
        [
            "",
            "../../x y",
            "..",
            ".hidden",
            "-rf",
            "run 1",
            "run\nINFO forged line",
            "a/b",
            "a" * 129,
            "x\x00y",
            "é",
            "run\t1",
            " lead",
            "trail ",
        ]
    ),
    st.text(max_size=140).filter(lambda s: not _is_identifier(s)),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)
BAD_TIMES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e10, 1e300, -1e300]),
    st.floats(max_value=0.0),
    st.floats(min_value=1e10),
    NOT_A_NUMBER,
)
HOSTILE_TEXT = st.one_of(
    st.text(min_size=513, max_size=600),
    st.text(max_size=40).map(lambda s: s + "\n" + s),
    st.text(max_size=40).map(lambda s: "\r\x1b[2J" + s),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _is_identifier(value: object) -> bool:
    try:
        return isinstance(value, str) and check_identifier(value) == value
    except ValueError:
        return False


def _unknown_field(known: set[str]) -> st.SearchStrategy[tuple[str, object]]:
    return st.tuples(st.text(min_size=1, max_size=20).filter(lambda k: k not in known), JSON)


def _late_or_far(executor_now: float) -> st.SearchStrategy[float]:
    """Well-formed times an armed executor refuses: long past, or further ahead than SALVO_MAX_START_DELAY (1 h)."""
    return st.one_of(
        st.floats(min_value=1.0, max_value=executor_now - 60),
        st.floats(min_value=executor_now + 3 * 3600, max_value=9.9e9),
    )


def _hostile_load() -> st.SearchStrategy[object]:
    counts = st.one_of(
        st.integers(max_value=0), st.integers(min_value=MAX_FLEET_USERS + 1), st.floats(allow_nan=True), NOT_A_NUMBER
    )
    rates = st.one_of(
        st.floats(max_value=MIN_SPAWN_RATE / 2),
        st.floats(min_value=MAX_SPAWN_RATE * 1.01),
        st.sampled_from([math.nan, math.inf]),
        NOT_A_NUMBER,
    )
    return st.one_of(
        st.fixed_dictionaries({"mode": st.just("fleet"), "users": counts}),
        st.fixed_dictionaries({"mode": st.just("fleet"), "users": st.just(10), "spawn_rate": rates}),
        st.fixed_dictionaries({"mode": st.just("per-executor"), "users": st.integers(1, 100)}),
        st.fixed_dictionaries({"mode": st.text(max_size=10).filter(lambda m: m not in ("fleet", "per-executor"))}),
        st.builds(lambda key, value: {"mode": "fleet", key: value}, st.sampled_from(["rows", "data", "shell"]), JSON),
        NOT_A_NUMBER,
        st.none(),
    )


def _hostile_params() -> st.SearchStrategy[object]:
    return st.one_of(
        st.dictionaries(
            st.text(min_size=1, max_size=5), st.just("x"), min_size=MAX_PARAMS + 1, max_size=MAX_PARAMS + 3
        ),
        st.builds(lambda k: {k: "x"}, st.one_of(st.just(""), st.text(min_size=65, max_size=70))),
        st.builds(
            lambda v: {"k": v},
            st.one_of(st.text(min_size=257, max_size=260), st.integers(), st.none(), st.just("two\nlines")),
        ),
        NOT_A_NUMBER,
        st.none(),
    )


def _mutated(base: dict, mutations: st.SearchStrategy[tuple[str, object]]) -> st.SearchStrategy[dict]:
    """`base` with one to three hostile (field, value) pairs: each alone makes it refused, so any mix does."""
    return st.lists(mutations, min_size=1, max_size=3).map(lambda pairs: {**base, **dict(pairs)})


def hostile_starts(executor_id: str, executor_now: float) -> st.SearchStrategy[dict]:
    """Start objects (as JSON values) that `executor_id`, armed at `executor_now`, must refuse."""
    base = {"v": 1, "type": "start", "run_id": "hostile", "fleet": [executor_id], "start_at": executor_now + 1.0}
    others = st.lists(IDENTIFIERS.filter(lambda i: i != executor_id), min_size=1, max_size=5, unique=True)
    fleets = st.one_of(
        others,
        st.just([]),
        st.just([executor_id, executor_id]),
        st.lists(HOSTILE_IDS, min_size=1, max_size=3).map(lambda ids: [executor_id, *ids]),
        st.just([executor_id, *(f"e{n}" for n in range(MAX_FLEET))]),
        NOT_A_NUMBER,
        st.none(),
    )
    mutations = st.one_of(
        st.tuples(st.just("start_at"), st.one_of(BAD_TIMES, _late_or_far(executor_now))),
        st.tuples(st.just("sent_at"), BAD_TIMES),
        st.tuples(st.just("run_id"), HOSTILE_IDS | st.none()),
        st.tuples(st.just("fleet"), fleets),
        st.tuples(st.just("load"), _hostile_load()),
        st.tuples(st.just("params"), _hostile_params()),
        st.tuples(st.just("live_labels"), st.one_of(st.integers(), st.text(max_size=4), st.none())),
        st.tuples(st.just("v"), st.one_of(st.integers().filter(lambda v: v != 1), st.text(max_size=3))),
        _unknown_field(set(Start.model_fields)),
    )
    return _mutated(base, mutations)


def hostile_others() -> st.SearchStrategy[tuple[str, dict]]:
    """(link, object) pairs of Stop, Heartbeat and Dismiss (command link) and Hello (status link), each invalid."""

    def of(kind: str, link: str, fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[tuple[str, dict]]:
        base = {"v": 1, "type": kind}
        mutations = st.one_of(
            *(st.tuples(st.just(k), v) for k, v in fields.items()), _unknown_field({"v", "type", *fields})
        )
        return st.tuples(st.just(link), _mutated(base, mutations))

    return st.one_of(
        of("stop", "command", {"run_id": HOSTILE_IDS, "reason": HOSTILE_TEXT}),
        of("heartbeat", "command", {"run_id": HOSTILE_IDS, "sent_at": BAD_TIMES}),
        of("dismiss", "command", {"run_id": HOSTILE_IDS, "reason": HOSTILE_TEXT}),
        of("hello", "status", {"client": HOSTILE_TEXT, "watch": st.one_of(st.integers(), st.text(max_size=4))}),
    )


def encoded(value: object) -> bytes:
    """JSON as a hostile peer may write it: NaN and Infinity included."""
    return json.dumps(value).encode()


def garbage_frames() -> st.SearchStrategy[bytes]:
    """Bytes that are not one JSON object of a known message: random, truncated, nested, wrong shapes."""
    valid = encoded({"v": 1, "type": "dismiss", "reason": "truncated"})
    return st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
        JSON.filter(lambda v: not isinstance(v, dict) or v.get("type") is None).map(encoded),
        st.text(max_size=20)
        .filter(lambda t: t not in ("start", "stop", "heartbeat", "dismiss", "hello"))
        .map(lambda t: encoded({"v": 1, "type": t})),
    )


def valid_starts(executor_id: str, now: float, tolerance: float, max_delay: float) -> st.SearchStrategy[Start]:
    """Starts within every bound, for `executor_id`, on time at `now`: an armed executor must obey each."""
    fleets = st.lists(IDENTIFIERS.filter(lambda i: i != executor_id), max_size=10, unique=True).flatmap(
        lambda others: st.permutations([executor_id, *others])
    )
    loads = st.one_of(
        st.just(FleetLoad()),
        st.just(FleetLoad(mode=LoadMode.FLEET)),
        st.builds(
            FleetLoad,
            mode=st.just(LoadMode.FLEET),
            users=st.integers(1, MAX_FLEET_USERS),
            spawn_rate=st.none() | st.floats(MIN_SPAWN_RATE, MAX_SPAWN_RATE),
        ),
    )
    return st.builds(
        Start,
        run_id=IDENTIFIERS,
        fleet=fleets,
        start_at=st.floats(now - tolerance, now + max_delay),
        sent_at=st.floats(1.0, 9e9),
        load=loads,
        live_labels=st.booleans(),
        params=st.dictionaries(st.from_regex(r"\A[a-z_]{1,64}\Z"), st.from_regex(r"\A[ -~]{0,256}\Z"), max_size=8),
    )
