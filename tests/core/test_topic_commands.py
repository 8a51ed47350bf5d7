"""`explain` and `quiz` over topics: the card, the experiment run now, claims with ✓/✗, errors in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import suite
import suite.topics
from suite.cli import main
from suite.plugins import PluginHost
from suite.topics import card_sections


def _register_source(host: PluginHost, name: str, source: str) -> None:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    record = host.register_plugin(module, name)
    assert record.status == "ok", record.error


FAILING_TOPICS = """
import suite
import suite.topics

class WrongClaim(suite.Topic):
    '''Two plus two.

    Formula: 2 + 2
    Pitfalls:
    - none
    Follow-up questions:
    - none
    '''
    name = "wrong-claim"
    area = "arithmetic"
    question = "Is two plus two five?"

    def experiment(self, ctx):
        total = 2 + 2
        return suite.Evidence(claims=[suite.Claim.of("2 + 2 = {t}, which is 5", holds=total == 5, t=total)])

class Crashing(suite.Topic):
    '''Crashes.

    Formula: none
    '''
    name = "crashing-topic"
    area = "arithmetic"
    question = "Does this crash?"

    def experiment(self, ctx):
        raise ZeroDivisionError("division by zero\\nsecond line")

@suite.hookimpl
def register_topics(register):
    register(WrongClaim)
    register(Crashing)
"""


def test_explain_lists_topics_by_area(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "statistics" in out and "toy-mean-spread" in out
    assert "How does the spread of a sample mean shrink with n?" in out


def test_explain_topic_runs_the_experiment_and_marks_claims(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "toy-mean-spread", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Formula:" in out
    assert "✓ the mean of 400 draws has sd" in out
    assert "seed 3" in out


def test_explain_no_run_shows_the_card_only(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "toy-mean-spread", "--no-run"]) == 0
    out = capsys.readouterr().out
    assert "Formula:" in out and "✓" not in out


def test_explain_json_gives_claims_with_values(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "toy-mean-spread", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["name"] == "toy-mean-spread"
    claim = payload["evidence"]["claims"][0]
    assert claim["holds"] is True and claim["values"]["n"] == 400
    assert payload["card"]["formula"].startswith("sd(mean of n)")


def test_a_claim_that_does_not_hold_is_shown_and_exits_1(
    fresh_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_source(fresh_host, "failing", FAILING_TOPICS)
    assert main(["explain", "wrong-claim"]) == 1
    assert "✗ 2 + 2 = 4, which is 5" in capsys.readouterr().out


def test_a_crashing_experiment_is_one_line_not_a_traceback(
    fresh_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_source(fresh_host, "failing", FAILING_TOPICS)
    assert main(["explain", "crashing-topic"]) == 1
    captured = capsys.readouterr()
    assert "the experiment failed: ZeroDivisionError: division by zero" in captured.out
    assert "second line" not in captured.out and "Traceback" not in captured.out + captured.err


def test_explain_html_writes_an_escaped_page_with_plots(
    fresh_host: PluginHost, tmp_path: Path
) -> None:
    source = """
    import suite

    class Curve(suite.Topic):
        '''<script>alert(1)</script> y = x squared.

        Formula: y = x^2
        '''
        name = "curve-topic"
        area = "arithmetic"
        question = "What does <b>x squared</b> look like?"

        def experiment(self, ctx):
            xs = [1.0, 2.0, 3.0]
            ys = [x * x for x in xs]
            return suite.Evidence(
                table=[{"x": x, "y": y} for x, y in zip(xs, ys)],
                claims=[suite.Claim.of("y(3) = {y}", holds=ys[2] == 9, y=ys[2])],
                series=[suite.Series("x²", xs, ys, "x", "y")],
            )

    @suite.hookimpl
    def register_topics(register):
        register(Curve)
    """
    _register_source(fresh_host, "curve", source)
    page = tmp_path / "card.html"
    assert main(["explain", "curve-topic", "--html", str(page)]) == 0
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    assert "&lt;b&gt;x squared&lt;/b&gt;" in text
    assert text.count("data:image/png;base64,") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "toy-mean-spread", "--html", "missing-folder/card.html"], "does not exist"),
        (["explain", "toy-mean-spread", "--no-run", "--html", "card.html"], "drop --no-run"),
        (["explain", "no-such-topic"], "no topic, area or component 'no-such-topic'"),
        (["quiz", "no-such-area"], "no topics in area 'no-such-area'"),
        (["quiz", "--n", "0"], "--n must be at least 1"),
    ],
)
def test_topic_usage_errors_exit_2(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_quiz_piped_asks_answers_and_proves_without_waiting(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert main(["quiz", "statistics", "--n", "5", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "question 1 of 1" in out
    assert "How does the spread of a sample mean shrink with n?" in out
    assert "✓" in out and "press Enter" not in out


def test_quiz_in_a_terminal_waits_for_enter(tmp_path: Path, toy_env: dict[str, str]) -> None:
    """Through a pseudo-terminal: the prompt appears, and the answer only after Enter."""
    import pty

    script = "import sys; from suite.cli import main; sys.exit(main(['quiz', '--no-run']))"
    pid, fd = pty.fork()
    if pid == 0:  # child: the quiz on a terminal
        import os

        os.execvpe(sys.executable, [sys.executable, "-c", script], toy_env)
    import os

    output = b""
    while b"press Enter" not in output:
        output += os.read(fd, 4096)
    assert b"sample mean" in output and b"Formula" not in output
    assert b"standard deviation" not in output  # the answer waits for Enter
    os.write(fd, b"\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"standard deviation" in output


def test_a_third_party_topic_installed_as_an_entry_point(toy_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "suite", "explain", "toy-mean-spread", "--json"],
        env=toy_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["holds"] is True


def test_card_sections_split_at_the_headings() -> None:
    sections = card_sections(
        "Answer here.\n\nFormula: a = b\nPitfalls:\n- one\nFollow-up questions:\n- why?"
    )
    assert sections == {
        "answer": "Answer here.",
        "formula": "a = b",
        "pitfalls": "- one",
        "follow-up questions": "- why?",
    }


def test_topics_are_exported() -> None:
    assert suite.Topic.__module__ == "suite.topics"


def test_the_guides_topic_example_registers_and_holds(fresh_host: PluginHost) -> None:
    """The code block of docs/writing-a-plugin.md §6, as a user would paste it into a plugin."""
    guide = (Path(__file__).parents[2] / "docs" / "writing-a-plugin.md").read_text()
    section = guide.split("## 6. Add an interview topic", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    module = types.ModuleType("guide_topic")
    exec(code, module.__dict__)
    assert fresh_host.register_plugin(module, "guide").status == "ok"
    topic = fresh_host.registry.get_topic("mean-spread")
    for seed in range(3):
        run = suite.topics.run_topic(topic, suite.TopicContext(seed=seed, small=True))
        assert run.holds, run.evidence


def test_a_bad_html_path_fails_before_the_experiment_runs(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["explain", "toy-mean-spread", "--html", str(tmp_path / "no" / "card.html")]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and "measured now" not in captured.out
