"""The admin chat for service managers, in Telegram (`/admin`).

Only numeric user ids from configuration (owners) or added by an owner (editors) get here, and
only in a private chat; everyone else's `/admin` is handled like any unknown command, and an
admin button pressed by anyone else is answered like any expired button. Where a manager is
(a menu, a field being edited, a change waiting to be confirmed) is kept in the database, so a
restart loses nothing. Every change goes through `bot.admin.service.Admin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.admin.service import (
    ADD_STEPS,
    EDITABLE,
    MAX_USER_ID,
    Admin,
    Conflict,
    Proposal,
    Refused,
    Role,
    Saved,
    is_user_id,
)
from bot.admin.texts import text
from bot.channels.telegram.render import MAX_TEXT, SEND, split_html
from bot.channels.telegram.sender import Blocked, GaveUp, Sender
from bot.config import TELEGRAM_ACCOUNTS
from bot.directory import changes as directory_changes
from bot.directory.files import MAX_ENTRIES, MAX_FILE_BYTES, DirectoryData, cell_text
from bot.directory.model import AUDIENCES, NEEDS, Area, Service
from bot.directory.validate import (
    Problem,
    area_from_record,
    area_to_record,
    service_from_record,
    service_to_record,
)
from bot.engine.context import Clock
from bot.stats.report import chart, shown

log = logging.getLogger(__name__)

PREFIX = "a:"
PAGE = 8
SHOWN_CHANGES = 50  # an import's preview lists this many changes, then says how many more
COMMANDS = ("/admin", "/undo", "/done")
LIST_FIELDS = {"audiences": AUDIENCES, "needs": NEEDS, "areas": None, "languages": None}


def _button(label: str, action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=f"{PREFIX}{action}")


def _rows(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[b] for b in buttons])


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def _cell(field: str, record: dict[str, Any]) -> str:
    value = cell_text(field, record.get(field))
    return value if value else text("empty_value")


def _hint(field: str) -> str:
    if field == "contacts":
        return text("hint_contacts")
    if field == "hours":
        return text("hint_hours")
    if field == "verified_on":
        return text("hint_date")
    if field == "id":
        return text("hint_id")
    if field in LIST_FIELDS:
        known = LIST_FIELDS[field]
        return text("hint_list", known=", ".join(sorted(known)) if known else "see the directory")
    return text("hint_text")


def _typed(value: str) -> str:
    """A lone "-" means "empty" (a chat message cannot be empty)."""
    return "" if value.strip() == text("empty_value") else value


class AdminChat:
    def __init__(self, admin: Admin, sender: Sender, clock: Clock, stale_days: int = 180) -> None:
        self.admin = admin
        self.sender = sender
        self.clock = clock
        self.stale_days = stale_days

    # -- routing -------------------------------------------------------------------------------

    async def wants(self, user_id: int, message_text: str, has_document: bool) -> bool:
        """Is this message for the admin chat? Only ever for a manager."""
        if await self.admin.role(user_id) is None:
            return False
        command = message_text.strip().split("@", 1)[0].lower()
        return command in COMMANDS or has_document or await self._session(user_id) is not None

    async def _session(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        return await self.admin.place(user_id)

    async def _go(self, user_id: int, state: str, **data: Any) -> None:
        await self.admin.go(user_id, state, data)

    async def _leave(self, user_id: int) -> None:
        await self.admin.leave(user_id)

    async def _say(
        self, bot: Bot, chat_id: int, html_text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        pieces = split_html(html_text, MAX_TEXT)
        for position, piece in enumerate(pieces, start=1):
            last = position == len(pieces)
            await self.sender.call(
                bot.send_message, chat_id, piece, reply_markup=markup if last else None, **SEND
            )

    # -- messages ------------------------------------------------------------------------------

    async def on_message(
        self, bot: Bot, chat_id: int, user_id: int, typed: str, document: Document | None
    ) -> None:
        role = await self.admin.role(user_id)
        if role is None:
            return
        command = typed.strip().split("@", 1)[0].lower()
        if command == "/admin":
            await self.menu(bot, chat_id, user_id, role)
        elif command == "/done":
            await self._leave(user_id)
            await self._say(bot, chat_id, _e(text("done")))
        elif command == "/undo":
            await self.undo(bot, chat_id, user_id)
        elif document is not None:
            await self.receive_file(bot, chat_id, user_id, document)
        else:
            await self.receive_text(bot, chat_id, user_id, role, typed)

    async def menu(self, bot: Bot, chat_id: int, user_id: int, role: Role) -> None:
        await self._go(user_id, "menu")
        buttons = [
            _button(text("button_find"), "find"),
            _button(text("button_all"), "all:0"),
            _button(text("button_add"), "add"),
            _button(text("button_stale"), "stale"),
            _button(text("button_import"), "import"),
            _button(text("button_export"), "export"),
            _button(text("button_figures"), "figures"),
        ]
        if role is Role.OWNER:
            buttons.append(_button(text("button_editors"), "editors"))
        buttons.append(_button(text("button_done"), "done"))
        await self._say(bot, chat_id, _e(text("menu")), _rows(*buttons))

    async def receive_text(
        self, bot: Bot, chat_id: int, user_id: int, role: Role, typed: str
    ) -> None:
        session = await self._session(user_id)
        state, data = session or ("menu", {})
        if state == "find":
            await self.show_found(bot, chat_id, user_id, typed)
        elif state == "edit_field":
            proposal = await self.admin.propose_edit(data["service"], data["field"], _typed(typed))
            await self.offer(bot, chat_id, user_id, proposal)
        elif state == "add":
            await self.add_step(bot, chat_id, user_id, data, _typed(typed))
        elif state == "add_editor" and role is Role.OWNER:
            await self.add_editor(bot, chat_id, user_id, typed)
        else:
            await self.menu(bot, chat_id, user_id, role)

    # -- buttons -------------------------------------------------------------------------------

    async def on_button(self, bot: Bot, query: CallbackQuery, chat_id: int, user_id: int) -> None:
        role = await self.admin.role(user_id)
        action, _, arg = (query.data or "").removeprefix(PREFIX).partition(":")
        session = await self._session(user_id)
        state, data = session or ("", {})
        rule = BUTTONS.get(action)
        answer: str | None = None
        try:
            if role is None or session is None:
                answer = text("expired")
            elif rule is not None and rule.owners_only and role is not Role.OWNER:
                answer = text("owners_only")
            elif rule is None or not rule.valid(state, arg):
                answer = text("expired")  # an old button, or one forged
            else:
                press = Press(bot, chat_id, user_id, role, arg, data)
                answer = await rule.handler(self, press)
        finally:
            with contextlib.suppress(TelegramError, Blocked, GaveUp):
                await self.sender.call(query.answer, text=answer)

    # One method per admin button; `BUTTONS` below says where each is valid.

    async def _on_menu(self, press: Press) -> str | None:
        await self.menu(press.bot, press.chat_id, press.user_id, press.role)
        return None

    async def _on_done(self, press: Press) -> str | None:
        await self._leave(press.user_id)
        await self._say(press.bot, press.chat_id, _e(text("done")))
        return None

    async def _on_find(self, press: Press) -> str | None:
        await self._go(press.user_id, "find")
        await self._say(press.bot, press.chat_id, _e(text("find_prompt")))
        return None

    async def _on_all(self, press: Press) -> str | None:
        await self.show_all(press.bot, press.chat_id, press.user_id, int(press.arg))
        return None

    async def _on_view(self, press: Press) -> str | None:
        await self.show_service(press.bot, press.chat_id, press.user_id, press.arg)
        return None

    async def _on_edit(self, press: Press) -> str | None:
        await self.choose_field(press.bot, press.chat_id, press.user_id, press.data["service"])
        return None

    async def _on_field(self, press: Press) -> str | None:
        service = press.data["service"]
        await self.ask_field(press.bot, press.chat_id, press.user_id, service, press.arg)
        return None

    async def _on_switch(self, press: Press, action: str) -> str | None:
        proposal = await self.admin.propose_switch(press.data["service"], action)
        if isinstance(proposal, Proposal) and action == "verify":
            await self.save(press.bot, press.chat_id, press.user_id, proposal)  # one tap
        else:
            await self.offer(press.bot, press.chat_id, press.user_id, proposal)
        return None

    async def _on_verify(self, press: Press) -> str | None:
        return await self._on_switch(press, "verify")

    async def _on_deactivate(self, press: Press) -> str | None:
        return await self._on_switch(press, "deactivate")

    async def _on_reactivate(self, press: Press) -> str | None:
        return await self._on_switch(press, "reactivate")

    async def _on_history(self, press: Press) -> str | None:
        await self.show_history(press.bot, press.chat_id, press.data["service"])
        return None

    async def _on_save(self, press: Press) -> str | None:
        proposal = Proposal.from_data(press.data["proposal"])
        await self.save(press.bot, press.chat_id, press.user_id, proposal)
        return None

    async def _on_cancel(self, press: Press) -> str | None:
        await self._go(press.user_id, "menu")
        await self._say(press.bot, press.chat_id, _e(text("cancelled")), self._menu_button())
        return None

    async def _on_add(self, press: Press) -> str | None:
        await self._go(press.user_id, "add", answers={}, step=0)
        await self.ask_step(press.bot, press.chat_id, 0)
        return None

    async def _on_stale(self, press: Press) -> str | None:
        await self.show_stale(press.bot, press.chat_id)
        return None

    async def _on_import(self, press: Press) -> str | None:
        await self._go(press.user_id, "import")
        prompt = text(
            "import_prompt", size=f"{MAX_FILE_BYTES // 2**20} MB", entries=f"{MAX_ENTRIES:,}"
        )
        await self._say(press.bot, press.chat_id, _e(prompt))
        return None

    async def _on_do_import(self, press: Press) -> str | None:
        await self.apply_import(press.bot, press.chat_id, press.user_id, press.data)
        return None

    async def _on_export(self, press: Press) -> str | None:
        await self.export(press.bot, press.chat_id)
        return None

    async def _on_figures(self, press: Press) -> str | None:
        await self.figures(press.bot, press.chat_id)
        return None

    async def _on_editors(self, press: Press) -> str | None:
        await self.show_editors(press.bot, press.chat_id, press.user_id)
        return None

    async def _on_add_editor(self, press: Press) -> str | None:
        await self._go(press.user_id, "add_editor")
        await self._say(press.bot, press.chat_id, _e(text("editor_prompt")))
        return None

    async def _on_remove_editor(self, press: Press) -> str | None:
        await self.admin.remove_editor(int(press.arg))  # a user id: its rule checked it
        await self._say(press.bot, press.chat_id, _e(text("editor_removed", user=press.arg)))
        await self.show_editors(press.bot, press.chat_id, press.user_id)
        return None

    def _menu_button(self) -> InlineKeyboardMarkup:
        return _rows(_button(text("button_menu"), "menu"))

    # -- finding and viewing -------------------------------------------------------------------

    def _list(self, services: Sequence[Service]) -> list[InlineKeyboardButton]:
        return [
            _button(s.name if s.active else f"({s.name})", f"view:{s.id}")
            for s in services
            if len(f"{PREFIX}view:{s.id}".encode()) <= 64
        ]

    async def show_found(self, bot: Bot, chat_id: int, user_id: int, words: str) -> None:
        found = await self.admin.find(words)
        if not found:
            await self._say(bot, chat_id, _e(text("found_none", words=words)))
            return
        buttons = [*self._list(found[:PAGE]), _button(text("button_menu"), "menu")]
        await self._say(bot, chat_id, _e(text("found", words=words)), _rows(*buttons))

    async def show_all(self, bot: Bot, chat_id: int, user_id: int, page: int) -> None:
        services = await self.admin.all_services()
        pages = max(1, -(-len(services) // PAGE))
        page = min(page, pages - 1)
        buttons = self._list(services[page * PAGE : (page + 1) * PAGE])
        if page + 1 < pages:
            buttons.append(_button(text("button_more"), f"all:{page + 1}"))
        buttons.append(_button(text("button_menu"), "menu"))
        heading = text("all", count=len(services), page=page + 1, pages=pages)
        await self._say(bot, chat_id, _e(heading), _rows(*buttons))

    async def show_service(self, bot: Bot, chat_id: int, user_id: int, service_id: str) -> None:
        viewed = await self.admin.view(service_id)
        if viewed is None:
            await self._say(bot, chat_id, _e(text("expired")))
            return
        service, version = viewed
        await self._go(user_id, "view", service=service_id, version=version)
        record = service_to_record(service)
        card = "\n".join(
            f"<b>{_e(field)}</b>: {_e(_cell(field, record))}"
            for field in ("name", *EDITABLE[1:], "nation_helpline")
        )
        status = text("status_active" if service.active else "status_inactive")
        footer = _e(text("view_footer", id=service.id, version=version, status=status))
        switch = (
            ("deactivate", "button_deactivate")
            if service.active
            else (
                "reactivate",
                "button_reactivate",
            )
        )
        markup = _rows(
            _button(text("button_edit"), "edit"),
            _button(text("button_verify"), "verify"),
            _button(text(switch[1]), switch[0]),
            _button(text("button_history"), "history"),
            _button(text("button_menu"), "menu"),
        )
        await self._say(bot, chat_id, f"{card}\n\n{footer}", markup)

    async def show_history(self, bot: Bot, chat_id: int, service_id: str) -> None:
        entries = await self.admin.history(service_id)
        if not entries:
            await self._say(bot, chat_id, _e(text("history_none", service=service_id)))
            return
        lines = [_e(text("history", service=service_id))]
        for entry in entries:
            fields = Proposal(entry.action, service_id, entry.before, entry.after, None).changed
            lines.append(
                _e(
                    text(
                        "history_entry",
                        when=f"{entry.at:%d %b %Y %H:%M}",
                        action=entry.action + (" (undone)" if entry.undone else ""),
                        who=entry.user_id,
                        fields=", ".join(fields) or "no fields",
                    )
                )
            )
        await self._say(bot, chat_id, "\n".join(lines), self._menu_button())

    async def show_stale(self, bot: Bot, chat_id: int) -> None:
        days = self.stale_days
        stale = await self.admin.stale(days)
        if not stale:
            await self._say(bot, chat_id, _e(text("stale_none", days=days)), self._menu_button())
            return
        buttons = [*self._list(stale[:PAGE]), _button(text("button_menu"), "menu")]
        heading = text("stale", count=len(stale), days=days)
        await self._say(bot, chat_id, _e(heading), _rows(*buttons))

    # -- editing -------------------------------------------------------------------------------

    async def choose_field(self, bot: Bot, chat_id: int, user_id: int, service_id: str) -> None:
        await self._go(user_id, "choose_field", service=service_id)
        buttons = [_button(field, f"field:{field}") for field in EDITABLE]
        buttons.append(_button(text("button_back"), f"view:{service_id}"))
        await self._say(bot, chat_id, _e(text("choose_field", service=service_id)), _rows(*buttons))

    async def ask_field(
        self, bot: Bot, chat_id: int, user_id: int, service_id: str, field: str
    ) -> None:
        viewed = await self.admin.view(service_id)
        if viewed is None:
            await self._say(bot, chat_id, _e(text("expired")))
            return
        await self._go(user_id, "edit_field", service=service_id, field=field)
        record = service_to_record(viewed[0])
        prompt = text(
            "field_prompt",
            field=field,
            service=service_id,
            current=_cell(field, record),
            hint=_hint(field),
        )
        await self._say(bot, chat_id, _e(prompt))

    def _diff(self, proposal: Proposal) -> str:
        lines = []
        for field in proposal.changed:
            after = _cell(field, proposal.after)
            if proposal.before is None:
                lines.append(f"<b>{_e(field)}</b>: {_e(after)}")
            else:
                before = _cell(field, proposal.before)
                lines.append(f"<b>{_e(field)}</b>:\n  before: {_e(before)}\n  after: {_e(after)}")
        return "\n".join(lines)

    async def offer(
        self, bot: Bot, chat_id: int, user_id: int, proposal: Proposal | Refused
    ) -> None:
        """Show a change with Save and Cancel, or say why it cannot be made."""
        if isinstance(proposal, Refused):
            problems = "\n".join(f"- {p}" for p in proposal.problems)
            await self._say(bot, chat_id, _e(text("problems", problems=problems)))
            return
        await self._go(user_id, "confirm", proposal=proposal.as_data())
        key = "confirm_new" if proposal.before is None else "confirm"
        body = text(key, service="{service}", diff="{diff}")
        body = _e(body).replace("{service}", _e(proposal.service_id))
        body = body.replace("{diff}", self._diff(proposal))
        markup = _rows(
            _button(text("button_save"), "save"), _button(text("button_cancel"), "cancel")
        )
        await self._say(bot, chat_id, body, markup)

    async def save(self, bot: Bot, chat_id: int, user_id: int, proposal: Proposal) -> None:
        outcome = await self.admin.save(user_id, proposal)
        if isinstance(outcome, Saved):
            await self._go(user_id, "menu")
            message = text("saved", service=proposal.service_id, version=outcome.version)
            markup = _rows(
                _button(text("button_back"), f"view:{proposal.service_id}"),
                _button(text("button_menu"), "menu"),
            )
            await self._say(bot, chat_id, _e(message), markup)
        elif isinstance(outcome, Conflict):
            await self._go(user_id, "menu")
            await self._say(bot, chat_id, self._conflict(outcome), self._menu_button())
        else:
            await self.offer(bot, chat_id, user_id, outcome)

    def _conflict(self, conflict: Conflict) -> str:
        mine = conflict.mine
        theirs_fields = "?"
        who, when = "unknown", "?"
        if conflict.by is not None:
            by = conflict.by
            who, when = str(by.user_id), f"{by.at:%d %b %Y %H:%M}"
            changed = Proposal(by.action, by.service_id, by.before, by.after, None).changed
            theirs_fields = "; ".join(f"{f} = {_cell(f, by.after)}" for f in changed) or "?"
        mine_fields = "; ".join(f"{f} = {_cell(f, mine.after)}" for f in mine.changed) or "?"
        return _e(
            text(
                "conflict",
                service=mine.service_id,
                who=who,
                when=when,
                theirs=theirs_fields,
                mine=mine_fields,
            )
        )

    async def undo(self, bot: Bot, chat_id: int, user_id: int) -> None:
        result = await self.admin.undo(user_id)
        if result is None:
            await self._say(bot, chat_id, _e(text("undo_none")))
            return
        entry, outcome = result
        if isinstance(outcome, Conflict):
            by = outcome.by
            message = text(
                "undo_conflict",
                service=entry.service_id,
                who=by.user_id if by else "unknown",
                when=f"{by.at:%d %b %Y %H:%M}" if by else "?",
            )
        else:
            message = text("undone", action=entry.action, service=entry.service_id)
        await self._say(bot, chat_id, _e(message), self._menu_button())

    # -- adding a service step by step ---------------------------------------------------------

    async def ask_step(self, bot: Bot, chat_id: int, step: int) -> None:
        field = ADD_STEPS[step]
        prompt = text(
            "add_step", number=step + 1, steps=len(ADD_STEPS), field=field, hint=_hint(field)
        )
        await self._say(bot, chat_id, _e(prompt))

    async def add_step(
        self, bot: Bot, chat_id: int, user_id: int, data: dict[str, Any], typed: str
    ) -> None:
        step, answers = int(data.get("step", 0)), dict(data.get("answers", {}))
        field = ADD_STEPS[step]
        problems = await self.admin.check_step(field, typed, answers)
        if problems:
            lines = "\n".join(f"- {p}" for p in problems)
            await self._say(bot, chat_id, _e(text("problems", problems=lines)))
            return
        answers[field] = typed.strip()
        if step + 1 < len(ADD_STEPS):
            await self._go(user_id, "add", answers=answers, step=step + 1)
            await self.ask_step(bot, chat_id, step + 1)
            return
        await self.offer(bot, chat_id, user_id, await self.admin.propose_new(answers))

    # -- files ---------------------------------------------------------------------------------

    async def receive_file(self, bot: Bot, chat_id: int, user_id: int, document: Document) -> None:
        # The file's own name is never used as a path: only its ending picks the reader.
        suffix = Path(document.file_name or "").suffix.lower()
        if suffix not in (".csv", ".yaml", ".yml"):
            await self._say(bot, chat_id, _e(text("import_kind")))
            return
        if (document.file_size or 0) > MAX_FILE_BYTES:
            message = text("import_too_big", size=document.file_size, limit=MAX_FILE_BYTES)
            await self._say(bot, chat_id, _e(message))
            return
        file = await self.sender.call(bot.get_file, document.file_id)
        content = bytes(await file.download_as_bytearray())
        if len(content) > MAX_FILE_BYTES:  # its size was not given, or not truly
            message = text("import_too_big", size=len(content), limit=MAX_FILE_BYTES)
            await self._say(bot, chat_id, _e(message))
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"import{suffix}"
            await asyncio.to_thread(path.write_bytes, content)
            # Read and checked in a thread, within the limits of bot.directory.files.
            preview = await self.admin.preview_import(path)
        if isinstance(preview, Refused):
            problems = "\n".join(f"- {p.replace(str(path), 'file')}" for p in preview.problems)
            await self._say(bot, chat_id, _e(text("import_problems", problems=problems)))
            return
        incoming, found = preview
        if all(change.kind == "unchanged" for change in found):
            await self._say(bot, chat_id, _e(text("import_nothing")), self._menu_button())
            return
        await self._go(
            user_id,
            "confirm_import",
            areas=[area_to_record(a) for a in incoming.areas.values()],
            services=[service_to_record(s) for s in incoming.services.values()],
        )
        changed = [c for c in found if c.kind != "unchanged"]
        details = "\n".join(f"- {c}" for c in changed[:SHOWN_CHANGES])
        if len(changed) > SHOWN_CHANGES:
            more = text("import_more", count=f"{len(changed) - SHOWN_CHANGES:,}")
            details += f"\n{more}"
        body = text("import_preview", summary=directory_changes.summary(found), details=details)
        markup = _rows(
            _button(text("button_import_now"), "doimport"),
            _button(text("button_cancel"), "cancel"),
        )
        await self._say(bot, chat_id, _e(body), markup)

    async def apply_import(
        self, bot: Bot, chat_id: int, user_id: int, data: dict[str, Any]
    ) -> None:
        known = (await self.admin.directory()).areas
        # Checked again (the directory may have changed): in a thread, as a big file may hold
        # thousands of services.
        incoming, problems = await asyncio.to_thread(_confirmed_import, data, known)
        if problems:
            lines = "\n".join(f"- {p}" for p in problems)
            await self._say(bot, chat_id, _e(text("import_problems", problems=lines)))
            return
        written = await self.admin.apply_import(user_id, incoming)
        await self._go(user_id, "menu")
        await self._say(bot, chat_id, _e(text("imported", count=written)), self._menu_button())

    async def export(self, bot: Bot, chat_id: int) -> None:
        csv_text = await self.admin.export_csv()
        count = max(0, csv_text.count("\r\n") - 1)
        await self.sender.call(
            bot.send_document,
            chat_id,
            InputFile(csv_text.encode("utf-8"), filename="directory.csv"),
            caption=_e(text("export_caption", count=count)),
            parse_mode=ParseMode.HTML,
            protect_content=False,  # the manager needs to save this file
        )

    async def figures(self, bot: Bot, chat_id: int, days: int = 30) -> None:
        """The partnership's chart of the last `days` days, as `python -m bot stats` draws it."""
        figures = await self.admin.figures(days)
        first, last = figures.first, figures.last
        picture = io.BytesIO()
        await asyncio.to_thread(chart, figures, picture)
        totals = (
            ", ".join(f"{value} {shown(total)}" for value, total in figures.totals("route"))
            or "none"
        )
        caption = text("figures_caption", first=first, last=last, totals=totals)
        await self.sender.call(
            bot.send_photo,
            chat_id,
            InputFile(picture.getvalue(), filename="figures.png"),
            caption=_e(caption),
            parse_mode=ParseMode.HTML,
            protect_content=False,
        )

    # -- editors -------------------------------------------------------------------------------

    async def show_editors(self, bot: Bot, chat_id: int, user_id: int) -> None:
        await self._go(user_id, "editors")
        editors = await self.admin.editors()
        listed = ", ".join(str(e) for e in editors) or text("editors_none")
        buttons = [_button(text("button_add_editor"), "addeditor")]
        buttons += [_button(text("button_remove_editor", user=e), f"rmeditor:{e}") for e in editors]
        buttons.append(_button(text("button_menu"), "menu"))
        await self._say(bot, chat_id, _e(text("editors", editors=listed)), _rows(*buttons))

    async def add_editor(self, bot: Bot, chat_id: int, owner: int, typed: str) -> None:
        value = typed.strip()
        if not (value.isascii() and value.isdigit()):
            await self._say(bot, chat_id, _e(text("editor_bad")))
            return
        if len(value) > len(str(MAX_USER_ID)) or not is_user_id(int(value)):
            await self._say(bot, chat_id, _e(text("editor_range", most=MAX_USER_ID)))
            return
        if int(value) in TELEGRAM_ACCOUNTS:
            await self._say(bot, chat_id, _e(text("editor_telegram", user=value)))
            return
        await self.admin.add_editor(owner, int(value))
        await self._say(bot, chat_id, _e(text("editor_added", user=value)))
        await self.show_editors(bot, chat_id, owner)

    # -- the daily reminder --------------------------------------------------------------------

    async def remind(self, bot: Bot) -> int:
        """The only message the bot ever sends unasked, and only to managers: entries not
        checked for `stale_days` days, once a day however many instances run. Returns how many
        managers were reminded."""
        stale = await self.admin.stale(self.stale_days)
        if not stale or not await self.admin.first_to_remind():
            return 0
        services = "\n".join(f"- {s.name} ({s.verified_on or 'never checked'})" for s in stale)
        message = text("reminder", count=len(stale), days=self.stale_days, services=services)
        reminded = 0
        for manager in await self.admin.managers():
            try:
                await self._say(bot, manager, _e(message))
                reminded += 1
            except (Blocked, GaveUp, TelegramError) as exc:
                log.warning("a reminder could not be sent: %s", type(exc).__name__)
        return reminded


def _confirmed_import(
    data: dict[str, Any], current_areas: dict[str, Area]
) -> tuple[DirectoryData, list[Problem]]:
    """The import waiting for confirmation, as the admin chat's place holds it, checked."""
    problems: list[Problem] = []
    areas = {}
    for record in data.get("areas", []):
        area = area_from_record(record, "chat", problems)
        if area is not None:
            areas[area.id] = area
    known = {**current_areas, **areas}
    services = {}
    for record in data.get("services", []):
        service = service_from_record(record, "chat", known, problems)
        if service is not None:
            services[service.id] = service
    return DirectoryData(areas, services), problems


@dataclass(frozen=True)
class Press:
    """An admin button pressed by a manager, with where they were in the admin chat."""

    bot: Bot
    chat_id: int
    user_id: int
    role: Role
    arg: str  # what follows the action in the button's data
    data: dict[str, Any]  # what the admin chat's place holds (the service being viewed ...)


def _any_text(arg: str) -> bool:
    return bool(arg)


def _no_arg(_arg: str) -> bool:
    return True


def _digits(arg: str) -> bool:
    return arg.isascii() and arg.isdigit()


def _page(arg: str) -> bool:
    """A page of the list: a page past the end shows the last one."""
    return _digits(arg) and len(arg) <= 6


def _user_id(arg: str) -> bool:
    return _digits(arg) and len(arg) <= len(str(MAX_USER_ID)) and is_user_id(int(arg))


def _editable(arg: str) -> bool:
    return arg in EDITABLE


@dataclass(frozen=True)
class ButtonRule:
    handler: Callable[[AdminChat, Press], Awaitable[str | None]]
    states: frozenset[str] | None = None  # the places it is valid in; None: any
    arg: Callable[[str], bool] = _no_arg
    owners_only: bool = False

    def valid(self, state: str, arg: str) -> bool:
        return (self.states is None or state in self.states) and self.arg(arg)


_VIEW = frozenset({"view"})
# Every admin button: what it does, where it is valid, and who may press it. Anything else,
# or a button pressed where it no longer applies, is answered "expired".
BUTTONS: dict[str, ButtonRule] = {
    "menu": ButtonRule(AdminChat._on_menu),
    "done": ButtonRule(AdminChat._on_done),
    "find": ButtonRule(AdminChat._on_find),
    "all": ButtonRule(AdminChat._on_all, arg=_page),
    "view": ButtonRule(AdminChat._on_view, arg=_any_text),
    "edit": ButtonRule(AdminChat._on_edit, _VIEW),
    "field": ButtonRule(AdminChat._on_field, frozenset({"choose_field"}), _editable),
    "verify": ButtonRule(AdminChat._on_verify, _VIEW),
    "deactivate": ButtonRule(AdminChat._on_deactivate, _VIEW),
    "reactivate": ButtonRule(AdminChat._on_reactivate, _VIEW),
    "history": ButtonRule(AdminChat._on_history, _VIEW),
    "save": ButtonRule(AdminChat._on_save, frozenset({"confirm"})),
    "cancel": ButtonRule(AdminChat._on_cancel, frozenset({"confirm", "confirm_import"})),
    "add": ButtonRule(AdminChat._on_add),
    "stale": ButtonRule(AdminChat._on_stale),
    "import": ButtonRule(AdminChat._on_import),
    "doimport": ButtonRule(AdminChat._on_do_import, frozenset({"confirm_import"})),
    "export": ButtonRule(AdminChat._on_export),
    "figures": ButtonRule(AdminChat._on_figures),
    "editors": ButtonRule(AdminChat._on_editors, owners_only=True),
    "addeditor": ButtonRule(AdminChat._on_add_editor, owners_only=True),
    "rmeditor": ButtonRule(AdminChat._on_remove_editor, arg=_user_id, owners_only=True),
}
