"""The engine helpers every stage uses."""

from __future__ import annotations

import duckdb
import pytest
from duckdb.sqltypes import VARCHAR

from portrait.engine import python_function


def test_a_python_function_is_callable_inside_its_block_on_one_thread_and_gone_after():
    con = duckdb.connect(config={"threads": 2})
    with python_function(con, "_shout", lambda s: s.upper() + "!", [VARCHAR], VARCHAR) as name:
        assert con.execute(f"SELECT {name}(x) FROM (VALUES ('a'), ('b')) v(x) ORDER BY 1").fetchall() == [
            ("A!",),
            ("B!",),
        ]
        # the calls queue on the interpreter lock: the statements run on one engine thread
        assert con.execute("SELECT current_setting('threads')").fetchall() == [(1,)]
    assert con.execute("SELECT current_setting('threads')").fetchall() == [(2,)]
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT _shout('a')")


def test_the_thread_count_comes_back_when_a_statement_in_the_block_fails():
    con = duckdb.connect(config={"threads": 2})
    with pytest.raises(duckdb.Error), python_function(con, "_f", lambda s: s, [VARCHAR], VARCHAR):
        con.execute("SELECT _f(x) FROM no_such_table")
    assert con.execute("SELECT current_setting('threads')").fetchall() == [(2,)]
