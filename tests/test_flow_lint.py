"""Broken flows are refused with the right file, line and cause; the shipped flows pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import bundled_directory
from bot.directory.index import DirectoryIndex
from bot.engine.flows import FlowError, FlowProblem, load_flows
from bot.engine.lint import lint
from tests.conftest import DIRECTORY, FIXTURES, FLOWS

MINIMAL = FIXTURES / "flows" / "minimal"


@pytest.fixture
def directory() -> DirectoryIndex:
    return bundled_directory(DIRECTORY)


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    shutil.copytree(MINIMAL, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace `old` (which must occur once) and return the 1-based line where it was."""
    text = path.read_text()
    assert text.count(old) == 1, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new))
    return line


def problems(folder: Path, directory: DirectoryIndex | None = None) -> list[str]:
    try:
        spec = load_flows(folder)
    except FlowError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in lint(spec, directory)]


def where(folder: Path, name: str, line: int) -> str:
    return f"{folder / name}:{line}: "


def test_the_shipped_flows_pass(directory: DirectoryIndex) -> None:
    assert problems(FLOWS, directory) == []


def test_the_minimal_fixture_passes(flows: Path, directory: DirectoryIndex) -> None:
    assert problems(flows, directory) == []


def test_unknown_destination_names_file_line_and_the_typo(flows: Path) -> None:
    line = edit(
        flows / "intro.yaml",
        "      goto: needs\n    buttons",
        "      goto: intro.nedds\n    buttons",
    )
    assert where(flows, "intro.yaml", line) + "unknown destination 'intro.nedds'" in problems(flows)


def test_unknown_condition(flows: Path) -> None:
    line = edit(flows / "intro.yaml", "if: nation_known", "if: nation_knwon")
    found = problems(flows)
    assert any(
        p.startswith(where(flows, "intro.yaml", line) + "unknown condition 'nation_knwon'")
        for p in found
    )


def test_unknown_action(flows: Path) -> None:
    line = edit(flows / "core.yaml", "do: [wipe, end_session]", "do: [wipe, end_sesion]")
    found = problems(flows)
    assert any(
        p.startswith(where(flows, "core.yaml", line) + "unknown action 'end_sesion'") for p in found
    )


def test_unknown_key_is_a_typo_not_silence(flows: Path) -> None:
    line = edit(flows / "intro.yaml", "    text: Where are you?", "    txet: Where are you?")
    found = problems(flows)
    assert any(p.startswith(where(flows, "intro.yaml", line) + "unknown key 'txet'") for p in found)


def test_invalid_yaml_names_the_line(flows: Path) -> None:
    line = edit(flows / "intro.yaml", "        label: No\n", "        label: [No\n")
    found = problems(flows)
    assert len(found) == 1 and "not valid YAML" in found[0]
    assert found[0].startswith(str(flows / "intro.yaml") + ":")
    assert int(found[0].split(":")[1]) >= line


def test_unreachable_state(flows: Path) -> None:
    path = flows / "intro.yaml"
    path.write_text(path.read_text() + "  orphan:\n    text: Nobody comes here.\n    end: true\n")
    line = len(path.read_text().splitlines()) - 2
    assert where(flows, "intro.yaml", line) + (
        "state 'intro.orphan' cannot be reached from the start"
    ) in problems(flows)


def test_dead_end(flows: Path) -> None:
    line = edit(
        flows / "intro.yaml",
        "  needs:\n    text: These can help.\n    services:\n      for: victim\n    end: true\n",
        "  needs:\n    text: These can help.\n",
    )
    found = problems(flows)
    assert any(
        p.startswith(where(flows, "intro.yaml", line) + "dead end: 'intro.needs'") for p in found
    )


def test_missing_way_out(flows: Path) -> None:
    edit(
        flows / "core.yaml",
        "    danger:\n      label: I'm in danger now\n      command: danger\n"
        "      goto: core.emergency\n      button: true\n      do: [remember_place]\n",
        "",
    )
    found = problems(flows)
    assert any("core.yaml:" in p and "missing way out 'danger'" in p for p in found)


def test_danger_must_be_one_tap_away(flows: Path) -> None:
    edit(
        flows / "core.yaml",
        "      goto: core.emergency\n      button: true",
        "      goto: core.emergency\n      button: false",
    )
    assert any("way out 'danger' must be a button on every message" in p for p in problems(flows))


def test_quick_exit_must_wipe_and_end(flows: Path) -> None:
    line = edit(flows / "core.yaml", "  exited:\n", "  exited:\n") + 0
    edit(flows / "core.yaml", "do: [wipe, end_session]", "do: [end_session]")
    found = problems(flows)
    assert (
        where(flows, "core.yaml", line)
        + ("the quick exit must arrive at a state that does 'wipe' and 'end_session'")
        in found
    )


def test_a_phone_number_written_into_a_flow_is_refused(flows: Path) -> None:
    line = edit(
        flows / "intro.yaml", "text: Where are you?", "text: Where are you? Or call 0808 2000 247."
    )
    found = problems(flows)
    assert any(
        p.startswith(
            where(flows, "intro.yaml", line) + "'0808 2000 247' looks like a contact detail"
        )
        for p in found
    )


@pytest.mark.parametrize(
    "detail", ["www.example.org", "https://example.org", "help@example.org", "999"]
)
def test_other_contact_details_in_prose_are_refused(flows: Path, detail: str) -> None:
    edit(flows / "intro.yaml", "text: Where are you?", f"text: Where are you? See {detail}")
    assert any("looks like a contact detail" in p for p in problems(flows))


def test_a_placeholder_must_exist_in_the_directory(flows: Path, directory: DirectoryIndex) -> None:
    line = edit(flows / "core.yaml", "Call {emergency.phone} now.", "Call {emergency.fax} now.")
    assert where(flows, "core.yaml", line) + (
        "{emergency.fax}: service 'emergency' has no 'fax' contact"
    ) in problems(flows, directory)


def test_a_placeholder_for_an_unknown_service(flows: Path, directory: DirectoryIndex) -> None:
    edit(flows / "core.yaml", "Call {emergency.phone} now.", "Call {emergancy.phone} now.")
    assert any(
        "{emergancy.phone}: no service 'emergancy' in the directory" in p
        for p in problems(flows, directory)
    )


def test_two_buttons_with_one_trigger(flows: Path) -> None:
    edit(flows / "intro.yaml", "      - trigger: wales\n", "      - trigger: no\n")
    path = flows / "intro.yaml"
    path.write_text(
        path.read_text().replace(
            "    buttons:\n      - trigger: no\n        label: Wales",
            "    buttons:\n      - trigger: wales\n        label: Wales\n        goto: needs\n"
            "      - trigger: wales\n        label: Wales",
        )
    )
    assert any("two buttons in 'intro.where' have trigger 'wales'" in p for p in problems(flows))


def test_choose_needs_a_fallback(flows: Path) -> None:
    edit(
        flows / "intro.yaml",
        "          - goto: where\n",
        "          - if: area_known\n            goto: where\n",
    )
    assert any("the last choice must have no 'if'" in p for p in problems(flows))


def test_a_way_out_cannot_be_shadowed_by_a_step_button(flows: Path) -> None:
    edit(flows / "intro.yaml", "      - trigger: wales\n", "      - trigger: exit\n")
    assert any("trigger 'exit' is a way out" in p for p in problems(flows))


def test_yes_and_no_stay_words(flows: Path) -> None:
    # YAML 1.1 would read a bare `no` as False; flows keep the word the editor wrote.
    spec = load_flows(flows)
    assert [b.trigger for b in spec.states["intro.start"].buttons] == ["danger", "no"]


def test_every_problem_is_listed_at_once(flows: Path) -> None:
    edit(flows / "intro.yaml", "if: nation_known", "if: nope")
    edit(flows / "core.yaml", "do: [wipe, end_session]", "do: [wipe, nope]")
    assert len(problems(flows)) >= 2


def test_problems_sort_by_file_and_line() -> None:
    found = sorted(
        [
            FlowProblem("b.yaml", 1, "x"),
            FlowProblem("a.yaml", 9, "y"),
            FlowProblem("a.yaml", 2, "z"),
        ]
    )
    assert [str(p) for p in found] == ["a.yaml:2: z", "a.yaml:9: y", "b.yaml:1: x"]


def test_a_language_button_must_name_a_shipped_language(flows: Path) -> None:
    line = edit(
        flows / "core.yaml",
        "  help:\n    text: Tap a button.\n    buttons:\n",
        "  help:\n    text: Tap a button.\n    buttons:\n      - trigger: xx\n"
        "        label: Xx\n        do:\n          - set_locale: xx\n        goto: back\n",
    )
    spec = load_flows(flows)
    found = [str(p) for p in lint(spec, None, ("en",))]
    assert where(flows, "core.yaml", line + 6) + "language 'xx' is not shipped (have: en)" in found


# -- a step's words on the web chat (`web_text`) ------------------------------------------------

EMERGENCY = "    text: Call {emergency.phone} now.\n"


def add_web_text(flows: Path, web_text: str) -> int:
    """Gives core.emergency a `web_text`; returns the line it is written on."""
    return edit(flows / "core.yaml", EMERGENCY, f"{EMERGENCY}    web_text: {web_text}\n") + 1


def test_a_web_text_is_read_beside_the_text(flows: Path, directory: DirectoryIndex) -> None:
    line = add_web_text(flows, "On the web, call {emergency.phone} now.")
    spec = load_flows(flows)
    state = spec.states["core.emergency"]
    assert state.text == "Call {emergency.phone} now."
    assert state.web_text == "On the web, call {emergency.phone} now."
    assert state.web_text_where is not None and state.web_text_where.line == line
    assert (state.web_text, state.web_text_where) in spec.texts()
    assert lint(spec, directory) == []
    # Without one, a step has none.
    assert spec.states["core.help"].web_text is None


@pytest.mark.parametrize(
    ("web_text", "message"),
    [
        ("Call {emergency.phone} or {emergency.text}.", "web_text has {emergency.text}, which"),
        ("Call the police now.", "web_text lacks {emergency.phone}, which text has"),
    ],
)
def test_a_web_text_must_keep_its_texts_placeholders(
    flows: Path, web_text: str, message: str
) -> None:
    line = add_web_text(flows, web_text)
    found = problems(flows)
    assert any(p.startswith(where(flows, "core.yaml", line) + message) for p in found), found


def test_a_web_text_the_same_as_its_text_is_refused(flows: Path) -> None:
    line = add_web_text(flows, "Call {emergency.phone} now.")
    assert where(flows, "core.yaml", line) + "web_text is the same as text: remove it" in (
        problems(flows)
    )


def test_a_web_text_is_checked_as_text_is(flows: Path, directory: DirectoryIndex) -> None:
    line = add_web_text(flows, "Call {emergency.phone} or see www.example.org.")
    found = problems(flows, directory)
    assert any(
        p.startswith(where(flows, "core.yaml", line) + "'example.org' looks like a contact")
        for p in found
    ), found


def test_an_empty_web_text_is_refused(flows: Path) -> None:
    line = add_web_text(flows, "''")
    assert where(flows, "core.yaml", line) + "web_text must be some text" in problems(flows)
