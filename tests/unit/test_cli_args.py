"""`docker run IMAGE salvo VERB …` and `docker run IMAGE VERB …` both reach the verb (entrypoint `salvo`)."""

from __future__ import annotations

import pytest

from salvo.cli import main


@pytest.mark.parametrize("argv", [["config", "executor"], ["salvo", "config", "executor"]])
def test_a_leading_program_name_is_ignored(argv, capsys):
    assert main(argv) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("variable") and "SALVO_SCENARIO_URI" in listing


def test_only_one_leading_program_name_is_ignored(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["salvo", "salvo", "config", "executor"])
    assert caught.value.code == 2
    assert "invalid choice: 'salvo'" in capsys.readouterr().err
