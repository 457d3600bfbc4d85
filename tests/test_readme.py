"""The README's runnable examples run, and print what their comments say."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block_containing(text: str) -> str:
    [block] = [b for b in BLOCKS if text in b]
    return block


def test_the_example_runs_and_prints_what_it_says(capsys):
    exec(
        compile(block_containing("def charge(amount)"), "README.md", "exec"),
        {"__name__": "__main__"},
    )
    assert capsys.readouterr().out.splitlines() == [
        "failed",
        "failed",
        "rejected, retry in 30s",
        "open",
        "{'id': 7} __main__.load_profile",
    ]


def test_the_manual_clock_example_passes():
    namespace: dict = {}
    exec(
        compile(block_containing("def test_recovers_after_timeout"), "README.md", "exec"), namespace
    )
    namespace["test_recovers_after_timeout"]()


def test_the_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = first_block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("python -m fastbreaker demo")
    assert commands[1].endswith("python -m pytest")


def test_the_listener_example_prints_what_it_says(capsys):
    exec(compile(block_containing("def page_on_open"), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["search opened (forced) after 0 failures"]
