"""IN lists padded to a power of two: few statement texts, the same rows matched."""

from __future__ import annotations

import sqlite3

import pytest

from ledger.sql_lists import in_list


@pytest.mark.parametrize(
    ("count", "size"), [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (500, 512), (512, 512)]
)
def test_a_list_is_padded_with_its_last_value_to_a_power_of_two(count: int, size: int) -> None:
    values = list(range(count))
    marks, padded = in_list(values)
    assert marks.count("?") == size == len(padded)
    assert padded[:count] == values
    assert set(padded[count:]) <= {values[-1]}


def test_lists_of_up_to_500_values_come_in_ten_texts_matching_the_same_rows() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (n INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
    texts = set()
    for count in range(1, 501):
        wanted = list(range(0, 2 * count, 2))[:count]
        marks, padded = in_list(wanted)
        texts.add(marks)
        found = [
            n for (n,) in db.execute(f"SELECT n FROM t WHERE n IN ({marks}) ORDER BY n", padded)
        ]
        assert found == sorted(set(wanted))
    assert len(texts) == 10


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        in_list([])
