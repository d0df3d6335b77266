"""Safety and structure checks over a loaded flow spec (`python -m bot flows check`).

The loader already refuses what cannot be built (unknown destinations, conditions, actions).
These checks refuse what could be built but would let someone down: a step nobody can reach,
a route that never arrives at help, a way out missing, a contact detail typed into prose, a
step's web wording (`web_text`) whose numbers are not its text's.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from bot.directory.model import DirectoryQueries
from bot.engine.conditions import ACTIONS, ArgKind
from bot.engine.flows import FlowProblem
from bot.engine.spec import BACK, PLACEHOLDER, FlowSpec, StateSpec, Where

# Ways out that must be a button on every message, not only a command: one tap away.
ONE_TAP: tuple[str, ...] = ("exit", "danger")

# Contact details typed into prose: runs of digits (phone numbers, 999, 55), web addresses,
# e-mail addresses. They belong in the directory, with a source and a verified date.
_CONTACT_LIKE = re.compile(
    r"\d[\d ]{1,}\d|https?://|www\.|\b[\w.+-]+@[\w-]+\.[\w.]+|\b[\w-]+\.(?:com|org|uk|net)\b",
    re.IGNORECASE,
)


_MESSAGE_PARAM = re.compile(r"\{[a-z_]+\}")


def _problem(where: Where, message: str) -> FlowProblem:
    return FlowProblem(where.file, where.line, message)


def _own_edges(state: StateSpec, start: str) -> set[str]:
    """Where a state's own buttons and typed input can lead (not the global ways out)."""
    targets: set[str] = set()
    for button in state.buttons:
        targets.update(start if c.goto == BACK else c.goto for c in button.choices)
    if state.input:
        targets.update(start if c.goto == BACK else c.goto for c in state.input.choices)
    return targets


def _reachable(spec: FlowSpec, edges: dict[str, set[str]]) -> set[str]:
    seen = {spec.start}
    queue = deque([spec.start])
    while queue:
        for target in edges[queue.popleft()]:
            if target in spec.states and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _way_out_problems(spec: FlowSpec) -> Iterable[FlowProblem]:
    """The loader has made sure all five ways out exist; here, that they are safe."""
    for trigger in ONE_TAP:
        way = spec.ways_out.get(trigger)
        if way and not way.as_button:
            yield _problem(way.where, f"way out '{trigger}' must be a button on every message")
    exit_way = spec.ways_out.get("exit")
    if exit_way and exit_way.goto in spec.states:
        done = {a.name for a in spec.states[exit_way.goto].actions}
        if not {"wipe", "end_session"} <= done:
            yield _problem(
                spec.states[exit_way.goto].where,
                "the quick exit must arrive at a state that does 'wipe' and 'end_session'",
            )


def _text_problems(spec: FlowSpec, directory: DirectoryQueries | None) -> Iterable[FlowProblem]:
    message_lines = {m.where for m in spec.messages.values()}
    for text, where in spec.texts():
        prose = PLACEHOLDER.sub("", text)
        if where in message_lines:
            # Short messages may carry values the code fills in, such as {minutes}.
            prose = _MESSAGE_PARAM.sub("", prose)
        for match in _CONTACT_LIKE.finditer(prose):
            yield _problem(
                where,
                f"'{match.group(0).strip()}' looks like a contact detail: put it in the directory "
                "and write {service-id.kind} here",
            )
        if "{" in prose or "}" in prose:
            yield _problem(where, "a '{' or '}' that is not a {service-id.kind} placeholder")
        if directory is None:
            continue
        for match in PLACEHOLDER.finditer(text):
            service = directory.service(match.group(1))
            if service is None:
                yield _problem(
                    where, f"{match.group(0)}: no service '{match.group(1)}' in the directory"
                )
            elif service.contact(match.group(2)) is None:
                yield _problem(
                    where,
                    f"{match.group(0)}: service '{service.id}' has no '{match.group(2)}' contact",
                )


def _placeholders(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


def _web_text_problems(spec: FlowSpec) -> Iterable[FlowProblem]:
    """A step's web wording carries the same numbers as its text: the web chat fills it with
    the values the engine looked up for `text`, so a placeholder only one of them has would
    show as `{service.kind}` or not at all."""
    for state in spec.states.values():
        if state.web_text is None or state.web_text_where is None:
            continue
        where = state.web_text_where
        if state.web_text == state.text:
            yield _problem(where, "web_text is the same as text: remove it")
        only_web = sorted(_placeholders(state.web_text) - _placeholders(state.text))
        only_text = sorted(_placeholders(state.text) - _placeholders(state.web_text))
        if only_web:
            yield _problem(where, f"web_text has {', '.join(only_web)}, which text does not")
        if only_text:
            yield _problem(where, f"web_text lacks {', '.join(only_text)}, which text has")


def _service_problems(spec: FlowSpec, directory: DirectoryQueries) -> Iterable[FlowProblem]:
    for state in spec.states.values():
        if state.services:
            for service_id in state.services.ids:
                if directory.service(service_id) is None:
                    yield _problem(
                        state.services.where, f"no service '{service_id}' in the directory"
                    )


def _locale_problems(spec: FlowSpec, locales: tuple[str, ...]) -> Iterable[FlowProblem]:
    for state in spec.states.values():
        for button in state.buttons:
            for call in button.actions:
                if ACTIONS[call.name].arg is ArgKind.LOCALE and call.arg not in locales:
                    yield _problem(
                        call.where,
                        f"language '{call.arg}' is not shipped (have: {', '.join(locales)})",
                    )


def lint(
    spec: FlowSpec,
    directory: DirectoryQueries | None = None,
    locales: tuple[str, ...] | None = None,
) -> list[FlowProblem]:
    """Every problem with the flows, in file and line order. Empty means safe to run."""
    problems: list[FlowProblem] = list(_way_out_problems(spec))
    if locales is not None:
        problems.extend(_locale_problems(spec, locales))

    own = {name: _own_edges(state, spec.start) for name, state in spec.states.items()}
    way_targets = {way.goto for way in spec.ways_out.values()}
    with_ways = {name: targets | way_targets for name, targets in own.items()}
    reachable = _reachable(spec, with_ways)
    for name, state in spec.states.items():
        if name not in reachable:
            problems.append(
                _problem(state.where, f"state '{name}' cannot be reached from the start")
            )

    # A dead end: a state from which the route's own buttons never arrive at help or an end.
    # The global ways out do not count here, or every state would trivially pass.
    arrives = {name for name, state in spec.states.items() if state.is_result}
    changed = True
    while changed:
        changed = False
        for name in spec.states.keys() - arrives:
            if own[name] & arrives:
                arrives.add(name)
                changed = True
    for name, state in spec.states.items():
        if name not in arrives:
            problems.append(
                _problem(
                    state.where,
                    f"dead end: '{name}' never leads to services or an end (add a button or "
                    "'services:')",
                )
            )

    problems.extend(_text_problems(spec, directory))
    problems.extend(_web_text_problems(spec))
    if directory is not None:
        problems.extend(_service_problems(spec, directory))
    return sorted(problems)


def unreachable_services(spec: FlowSpec, directory: DirectoryQueries) -> list[str]:
    """Services in the directory that no step of any route could ever show: a helpline nobody
    can reach. A step shows a service it names (`ids`), or one for its audience (or for
    everyone) that meets one of its needs, or the nation's 24-hour line. A step that takes its
    need from an answer (`needs_from`) may show any need a button sets for that answer."""
    set_values: dict[str, set[str]] = {}
    for state in spec.states.values():
        for button in state.buttons:
            for key, value in button.answers:
                set_values.setdefault(key, set()).add(value)
    queries = [state.services for state in spec.states.values() if state.services]
    # A service whose details a step's text gives ({silent-solution.keypad}) is shown there.
    shown = {m.group(1) for text, _ in spec.texts() for m in PLACEHOLDER.finditer(text)}
    for service in directory.services():
        for query in queries:
            needs = {*query.needs, *query.first, *set_values.get(query.needs_from or "", ())}
            for_them = query.audience is not None and (
                query.audience in service.audiences or "everyone" in service.audiences
            )
            fits = service.nation_helpline or bool(needs & set(service.needs))
            if service.id in query.ids or (for_them and fits):
                shown.add(service.id)
                break
    return [
        f"service '{s.id}' ({s.name}) is shown by no step of any route: name it in a step's "
        "`services: ids`, or give it an audience and a need that a step asks for"
        for s in directory.services()
        if s.active and s.id not in shown
    ]


def directory_problems(spec: FlowSpec, directory: DirectoryQueries) -> list[str]:
    """What the flows need from the directory (e.g. {emergency.phone}) that it lacks: checked
    before any import or edit is saved, so the conversation can never lose a detail."""
    found = [*_text_problems(spec, directory), *_service_problems(spec, directory)]
    return [str(p) for p in found if p.message.startswith(("{", "no service"))]
