"""Load `flows/*.yaml` into a validated, immutable `FlowSpec`.

The YAML is read as a node tree rather than as Python objects, for two reasons: every problem
can name its file and line, and every scalar stays the string the editor wrote (so `yes`, `no`
and `on` are words, never booleans). All problems are collected before giving up, so one run of
`python -m bot flows check` lists everything to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from bot.engine.conditions import ACTIONS, CONDITIONS, PARSERS, ArgKind
from bot.engine.spec import (
    BACK,
    REQUIRED_MESSAGES,
    REQUIRED_WAYS_OUT,
    ActionCall,
    ButtonSpec,
    Choice,
    FlowSpec,
    InputSpec,
    MessageSpec,
    ServiceQuery,
    StateSpec,
    WayOutSpec,
    Where,
)

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
TRUE_WORDS = frozenset({"true", "yes", "on"})
FALSE_WORDS = frozenset({"false", "no", "off"})
SETTINGS_FILE = "core.yaml"

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class FlowProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class FlowError(Exception):
    """The flows cannot be used. `problems` lists every reason, each with file and line."""

    def __init__(self, problems: Iterable[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """`flows/victim.yaml` rather than an absolute path, when the file is under the cwd."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Reader:
    """Walks one file's node tree, recording problems instead of raising."""

    def __init__(self, file: str, problems: list[FlowProblem]) -> None:
        self.file = file
        self.problems = problems

    def where(self, node: yaml.Node) -> Where:
        return Where(self.file, node.start_mark.line + 1)

    def problem(self, node: yaml.Node | Where, message: str) -> None:
        where = node if isinstance(node, Where) else self.where(node)
        self.problems.append(FlowProblem(where.file, where.line, message))

    def mapping(
        self, node: yaml.Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """A mapping's entries by key (key node kept for line numbers), or None if not one."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of names to values")
            return None
        allowed = set(allowed)
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(key_node, f"{what} has a key that is not a plain word")
                continue
            if key in entries:
                self.problem(key_node, f"{what} has '{key}' twice")
                continue
            if allowed and key not in allowed:
                known = ", ".join(sorted(allowed))
                self.problem(key_node, f"unknown key '{key}' in {what} (expected one of: {known})")
                continue
            entries[key] = (key_node, value_node)
        for key in required:
            if key not in entries:
                self.problem(node, f"{what} needs '{key}'")
        return entries

    def text(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.problem(node, f"{what} must be some text")
            return None
        # Block scalars keep a trailing newline; the text itself does not need it.
        return str(node.value).strip()

    def name(self, node: yaml.Node, what: str) -> str | None:
        value = self.text(node, what)
        if value is None:
            return None
        if not set(value) <= NAME_CHARS or value[0].isdigit():
            self.problem(node, f"{what} '{value}' must use only a-z, 0-9 and _")
            return None
        return value

    def flag(self, node: yaml.Node, what: str) -> bool:
        value = self.text(node, what)
        if value is not None and value.lower() in TRUE_WORDS:
            return True
        if value is not None and value.lower() not in FALSE_WORDS:
            self.problem(node, f"{what} must be true or false")
        return False

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.problem(node, f"{what} must be a list (each item starting with '- ')")
        return []

    def each(self, node: yaml.Node, what: str, read: Callable[[yaml.Node], T | None]) -> list[T]:
        return [item for item in map(read, self.items(node, what)) if item is not None]


class _FileLoader(_Reader):
    def __init__(self, path: Path, problems: list[FlowProblem]) -> None:
        super().__init__(display_path(path), problems)
        self.flow = path.stem
        self.states: dict[str, StateSpec] = {}
        self.start: tuple[str, Where] | None = None
        self.ways_out: dict[str, WayOutSpec] = {}
        self.messages: dict[str, MessageSpec] = {}
        self.unreadable = False  # a file that cannot be parsed makes cross-file checks noise

    def qualify(self, name: str) -> str:
        """`services` in victim.yaml means `victim.services`; `core.help` is already whole."""
        return name if "." in name or name == BACK else f"{self.flow}.{name}"

    def load(self, path: Path) -> None:
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            self.problem(Where(self.file, line), f"not valid YAML: {exc.problem or exc}")
            self.unreadable = True
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(Where(self.file, 1), f"cannot be read: {exc}")
            self.unreadable = True
            return
        if root is None:
            self.problem(Where(self.file, 1), "is empty")
            return
        allowed = ["about", "states", "settings", "messages"]
        top = self.mapping(root, "the file", allowed, required=["states"])
        if top is None:
            return
        if self.file.endswith(SETTINGS_FILE) or "settings" in top:
            self.read_settings(top)
        elif "messages" in top:
            self.problem(top["messages"][0], f"'messages' belong in {SETTINGS_FILE}")
        if "states" in top:
            self.read_states(top["states"][1])

    def read_settings(self, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        if "settings" not in top:
            self.problem(Where(self.file, 1), "needs 'settings' (start state and ways out)")
            return
        settings = self.mapping(
            top["settings"][1], "settings", ["start", "ways_out"], required=["start", "ways_out"]
        )
        if settings is None:
            return
        if "start" in settings:
            start = self.text(settings["start"][1], "the start state")
            if start:
                self.start = (self.qualify(start), self.where(settings["start"][1]))
        if "ways_out" in settings:
            ways = self.mapping(settings["ways_out"][1], "ways_out", [])
            for trigger, (key_node, value_node) in (ways or {}).items():
                way = self.read_way_out(trigger, key_node, value_node)
                if way:
                    self.ways_out[trigger] = way
            for trigger in REQUIRED_WAYS_OUT:
                if ways is not None and trigger not in ways:
                    self.problem(
                        settings["ways_out"][0],
                        f"missing way out '{trigger}': every state must offer it",
                    )
        if "messages" in top:
            messages = self.mapping(top["messages"][1], "messages", [])
            for key, (key_node, value_node) in (messages or {}).items():
                text = self.text(value_node, f"message '{key}'")
                if text:
                    self.messages[key] = MessageSpec(key, text, self.where(key_node))
            for key in REQUIRED_MESSAGES:
                if key not in self.messages:
                    self.problem(top["messages"][0], f"messages needs '{key}'")
        else:
            self.problem(Where(self.file, 1), "needs 'messages': " + ", ".join(REQUIRED_MESSAGES))

    def read_way_out(self, trigger: str, key: yaml.Node, node: yaml.Node) -> WayOutSpec | None:
        entries = self.mapping(
            node,
            f"way out '{trigger}'",
            ["label", "command", "goto", "button", "do"],
            required=["label", "command", "goto"],
        )
        if entries is None or not {"label", "command", "goto"} <= entries.keys():
            return None
        label = self.text(entries["label"][1], "label")
        command = self.name(entries["command"][1], "command")
        goto = self.text(entries["goto"][1], "goto")
        as_button = self.flag(entries["button"][1], "button") if "button" in entries else False
        actions = self.read_actions(entries["do"][1]) if "do" in entries else []
        if not (label and command and goto):
            return None
        return WayOutSpec(
            trigger,
            label,
            command,
            self.qualify(goto),
            as_button,
            tuple(actions),
            self.where(key),
            self.where(entries["label"][1]),
        )

    def read_states(self, node: yaml.Node) -> None:
        states = self.mapping(node, "states", [])
        for name, (key_node, value_node) in (states or {}).items():
            if not set(name) <= NAME_CHARS:
                self.problem(key_node, f"state name '{name}' must use only a-z, 0-9 and _")
                continue
            state = self.read_state(self.qualify(name), key_node, value_node)
            if state:
                self.states[state.name] = state

    def read_state(self, name: str, key: yaml.Node, node: yaml.Node) -> StateSpec | None:
        allowed = [
            "text",
            "web_text",
            "buttons",
            "input",
            "services",
            "do",
            "end",
            "back_to",
            "note",
        ]
        entries = self.mapping(node, f"state '{name}'", allowed, required=["text"])
        if entries is None or "text" not in entries:
            return None
        text = self.text(entries["text"][1], "text")
        web_text = self.text(entries["web_text"][1], "web_text") if "web_text" in entries else None
        buttons = (
            self.each(entries["buttons"][1], "buttons", self.read_button)
            if ("buttons" in entries)
            else []
        )
        seen: set[str] = set()
        for button in buttons:
            if button.trigger in seen:
                self.problem(
                    button.where, f"two buttons in '{name}' have trigger '{button.trigger}'"
                )
            seen.add(button.trigger)
        back_to = None
        if "back_to" in entries:
            raw = self.text(entries["back_to"][1], "back_to")
            back_to = self.qualify(raw) if raw else None
        return StateSpec(
            name=name,
            text=text or "",
            buttons=tuple(buttons),
            input=self.read_input(entries["input"][1]) if "input" in entries else None,
            services=self.read_services(entries["services"][1]) if "services" in entries else None,
            actions=tuple(self.read_actions(entries["do"][1])) if "do" in entries else (),
            end=self.flag(entries["end"][1], "end") if "end" in entries else False,
            back_to=back_to,
            where=self.where(key),
            text_where=self.where(entries["text"][1]),
            web_text=web_text,
            web_text_where=self.where(entries["web_text"][1]) if web_text else None,
        )

    def read_button(self, node: yaml.Node) -> ButtonSpec | None:
        allowed = ["trigger", "label", "goto", "choose", "way_out", "set", "do", "means"]
        entries = self.mapping(node, "a button", allowed, required=["label"])
        if entries is None or "label" not in entries:
            return None
        label = self.text(entries["label"][1], "label")
        way_out = self.name(entries["way_out"][1], "way_out") if "way_out" in entries else None
        routes = [k for k in ("goto", "choose", "way_out") if k in entries]
        if len(routes) != 1:
            self.problem(node, "a button needs exactly one of 'goto', 'choose' or 'way_out'")
            return None
        if way_out is None and "trigger" not in entries:
            self.problem(node, "a button needs a 'trigger' (a short name, e.g. 'yes')")
            return None
        trigger = way_out or self.name(entries["trigger"][1], "trigger")
        choices = self.read_route(entries, node)
        answers: list[tuple[str, str]] = []
        if "set" in entries:
            pairs = self.mapping(entries["set"][1], "set", [])
            for answer_key, (_, value_node) in (pairs or {}).items():
                value = self.text(value_node, f"the value of '{answer_key}'")
                if value:
                    answers.append((answer_key, value))
        actions = self.read_actions(entries["do"][1]) if "do" in entries else []
        # The short answers (flows/words/*.yaml) that typed mean this button: "yes", "no" ...
        means = (
            self.each(entries["means"][1], "means", lambda n: self.name(n, "an answer"))
            if "means" in entries
            else []
        )
        if not (label and trigger):
            return None
        return ButtonSpec(
            trigger=trigger,
            label=label,
            choices=tuple(choices),
            answers=tuple(answers),
            actions=tuple(actions),
            way_out=way_out,
            where=self.where(node),
            label_where=self.where(entries["label"][1]),
            means=tuple(means),
        )

    def read_route(
        self, entries: dict[str, tuple[yaml.Node, yaml.Node]], owner: yaml.Node
    ) -> list[Choice]:
        if "goto" in entries:
            goto = self.text(entries["goto"][1], "goto")
            where = self.where(entries["goto"][1])
            return [Choice(self.qualify(goto), None, False, where)] if goto else []
        if "choose" not in entries:
            return []
        choices = self.each(entries["choose"][1], "choose", self.read_choice)
        if choices and choices[-1].condition is not None:
            self.problem(
                choices[-1].where,
                "the last choice must have no 'if', so that every press goes somewhere",
            )
        for choice in choices[:-1]:
            if choice.condition is None:
                self.problem(choice.where, "only the last choice may have no 'if'")
        return choices

    def read_choice(self, node: yaml.Node) -> Choice | None:
        entries = self.mapping(node, "a choice", ["if", "goto"], required=["goto"])
        if entries is None or "goto" not in entries:
            return None
        goto = self.text(entries["goto"][1], "goto")
        condition, negate = None, False
        if "if" in entries:
            raw = self.text(entries["if"][1], "if")
            if raw:
                negate = raw.startswith("not ")
                condition = raw.removeprefix("not ").strip()
                if condition not in CONDITIONS:
                    known = ", ".join(sorted(CONDITIONS))
                    self.problem(
                        entries["if"][1], f"unknown condition '{condition}' (known: {known})"
                    )
        if not goto:
            return None
        return Choice(self.qualify(goto), condition, negate, self.where(node))

    def read_input(self, node: yaml.Node) -> InputSpec | None:
        entries = self.mapping(node, "input", ["parse", "goto", "choose"], required=["parse"])
        if entries is None or "parse" not in entries:
            return None
        parser = self.name(entries["parse"][1], "parse")
        if parser and parser not in PARSERS:
            known = ", ".join(sorted(PARSERS))
            self.problem(entries["parse"][1], f"unknown input parser '{parser}' (known: {known})")
        if ("goto" in entries) == ("choose" in entries):
            self.problem(node, "input needs exactly one of 'goto' or 'choose'")
            return None
        choices = self.read_route(entries, node)
        return InputSpec(parser, tuple(choices), self.where(node)) if parser and choices else None

    def read_services(self, node: yaml.Node) -> ServiceQuery | None:
        entries = self.mapping(node, "services", ["for", "needs", "needs_from", "ids", "first"])
        if entries is None:
            return None
        audience = self.name(entries["for"][1], "for") if "for" in entries else None
        needs, first = (
            self.each(entries[key][1], key, lambda n: self.name(n, "a need"))
            if key in entries
            else []
            for key in ("needs", "first")
        )
        ids = (
            self.each(entries["ids"][1], "ids", lambda n: self.text(n, "a service id"))
            if ("ids" in entries)
            else []
        )
        needs_from = (
            self.name(entries["needs_from"][1], "needs_from") if "needs_from" in entries else None
        )
        if audience is None and not ids:
            self.problem(node, "services needs 'for' (who the services are for) or 'ids'")
        if first and audience is None:
            self.problem(node, "services with 'first' needs 'for' (who the services are for)")
        return ServiceQuery(
            audience, tuple(needs), tuple(ids), self.where(node), needs_from, tuple(first)
        )

    def read_actions(self, node: yaml.Node) -> list[ActionCall]:
        return self.each(node, "do", self.read_action)

    def read_action(self, node: yaml.Node) -> ActionCall | None:
        arg: str | None = None
        if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
            key_node, value_node = node.value[0]
            name = self.name(key_node, "an action")
            arg = self.text(value_node, f"the value for action '{name}'")
        else:
            name = self.name(node, "an action")
        if name is None:
            return None
        if name not in ACTIONS:
            known = ", ".join(sorted(ACTIONS))
            self.problem(node, f"unknown action '{name}' (known: {known})")
            return None
        kind = ACTIONS[name].arg
        if kind is ArgKind.NONE and arg is not None:
            self.problem(node, f"action '{name}' takes no value")
        if kind is not ArgKind.NONE and arg is None:
            self.problem(node, f"action '{name}' needs a value, e.g. '{{{name}: ...}}'")
        if kind is ArgKind.STATE and arg:
            arg = self.qualify(arg)
        return ActionCall(name, arg, self.where(node))


def load_flows(directory: Path) -> FlowSpec:
    """Read and validate every `*.yaml` in `directory`. Raises FlowError listing all problems."""
    problems: list[FlowProblem] = []
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise FlowError([FlowProblem(display_path(directory), 0, "no flow files (*.yaml) here")])
    loaders = []
    for path in paths:
        loader = _FileLoader(path, problems)
        loader.load(path)
        loaders.append(loader)
    if any(loader.unreadable for loader in loaders):
        raise FlowError(problems)

    states: dict[str, StateSpec] = {}
    for loader in loaders:
        for name, state in loader.states.items():
            if name in states:
                problems.append(
                    FlowProblem(
                        state.where.file, state.where.line, f"state '{name}' is defined twice"
                    )
                )
            states[name] = state
    settings = [loader for loader in loaders if loader.start is not None]
    if not settings and not any(loader.file.endswith(SETTINGS_FILE) for loader in loaders):
        problems.append(
            FlowProblem(
                display_path(directory / SETTINGS_FILE), 0, "missing: it holds the settings"
            )
        )
    if len(settings) > 1:
        for extra in settings[1:]:
            problems.append(FlowProblem(extra.file, 1, "settings may appear in one file only"))
    start, ways_out, messages = "", {}, {}
    if settings:
        start_name, start_where = settings[0].start or ("", Where("", 0))
        start = start_name
        ways_out = settings[0].ways_out
        messages = settings[0].messages
        if start not in states:
            problems.append(
                FlowProblem(start_where.file, start_where.line, f"unknown start state '{start}'")
            )

    problems.extend(_reference_problems(states, ways_out))
    if problems:
        raise FlowError(problems)
    return FlowSpec(
        states=states,
        start=start,
        ways_out=ways_out,
        messages=messages,
        files=tuple(display_path(p) for p in paths),
    )


def _reference_problems(
    states: dict[str, StateSpec], ways_out: dict[str, WayOutSpec]
) -> list[FlowProblem]:
    """Destinations, way-out names and action arguments that point at nothing."""
    problems: list[FlowProblem] = []

    def check_destination(goto: str, where: Where, state: StateSpec | None) -> None:
        if goto == BACK:
            return
        if goto not in states:
            problems.append(FlowProblem(where.file, where.line, f"unknown destination '{goto}'"))

    for way in ways_out.values():
        check_destination(way.goto, way.where, None)
    for state in states.values():
        if state.back_to and state.back_to not in states:
            where = state.where
            problems.append(
                FlowProblem(where.file, where.line, f"unknown back_to '{state.back_to}'")
            )
        routes: list[Choice] = []
        for button in state.buttons:
            routes.extend(button.choices)
            if button.way_out and button.way_out not in ways_out:
                problems.append(
                    FlowProblem(
                        button.where.file, button.where.line, f"unknown way out '{button.way_out}'"
                    )
                )
            if not button.way_out and button.trigger in ways_out:
                problems.append(
                    FlowProblem(
                        button.where.file,
                        button.where.line,
                        f"trigger '{button.trigger}' is a way out; use 'way_out: {button.trigger}'",
                    )
                )
        if state.input:
            routes.extend(state.input.choices)
        for choice in routes:
            check_destination(choice.goto, choice.where, state)
        actions = list(state.actions) + [a for b in state.buttons for a in b.actions]
        for action in actions:
            if ACTIONS[action.name].arg is ArgKind.STATE and action.arg not in states:
                problems.append(
                    FlowProblem(
                        action.where.file, action.where.line, f"unknown state '{action.arg}'"
                    )
                )
    return problems
