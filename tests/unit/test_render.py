"""The CLI's progress callback: warnings from the core reach stderr, each text once."""

from mlvc.cli import render


def test_reporter_warns_once_per_text(capsys):
    rep = render.Reporter()
    rep.warn("data/a kept as a copy")
    rep.warn("data/a kept as a copy")
    rep.warn("running as root")
    err = capsys.readouterr().err
    assert err == "warning: data/a kept as a copy\nwarning: running as root\n"


def test_progress_without_a_terminal_still_warns(capsys, monkeypatch):
    monkeypatch.setattr(render.OPTIONS, "quiet", True)
    rep = render.progress()
    with rep.task("Adding", 10) as task:
        task.advance(3)
    rep.warn("kept as a copy")
    assert capsys.readouterr().err == "warning: kept as a copy\n"
