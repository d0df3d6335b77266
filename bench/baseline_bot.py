"""The baseline: a plain python-telegram-bot conversation bot, for side-by-side figures.

What a developer writes from python-telegram-bot's own examples: a `ConversationHandler`
with one state per step, `PicklePersistence` keeping the conversations (and each person's
answers), an inline keyboard on every step, the step's message edited in place when a button
is pressed and a new message sent when text is typed. It walks as many steps as the
Pathways conversation it stands in for (the load driver plays the same scripts, tap for tap
and typed text for typed text), and ends with a farewell on "Quick exit".

Everything else is python-telegram-bot's defaults: updates handled one at a time, and
`PicklePersistence` writing its file every 60 seconds and at shutdown, not at every step
(`--concurrent N` handles up to N updates at once instead).

Run: `TELEGRAM_BOT_TOKEN=... TELEGRAM_API_BASE_URL=... python -m bench.baseline_bot --data F`
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    Defaults,
    MessageHandler,
    PicklePersistence,
    filters,
)

STEPS = 24  # more than the longest scenario: a conversation never runs out of steps
CONTINUE = "Continue"
QUICK_EXIT = "Quick exit"
DANGER = "I'm in danger now"
# About as long as a Pathways step: a question, some explanation, the auto-clear footer.
TEXT = (
    "<b>Step {step}</b>\n\nThank you for telling me. Here is what can help at this point, "
    "and some things you might want to think about before you choose what to do next. "
    "You can take your time: nothing happens until you choose.\n\n"
    "<i>This chat clears itself after 15 minutes without activity.</i>"
)

Context = ContextTypes.DEFAULT_TYPE


# As many buttons as a Pathways step shows on average (its choices and the ways out).
BUTTONS = (
    (CONTINUE, "next"),
    ("Tell me more", "more"),
    ("Back", "back"),
    ("Help", "help"),
    (DANGER, "danger"),
    (QUICK_EXIT, "exit"),
)


def keyboard(step: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"{step}:{key}")] for label, key in BUTTONS]
    )


def _remember(context: Context, step: int, choice: str) -> None:
    answers: dict[str, Any] = context.user_data if context.user_data is not None else {}
    answers[f"step{step}"] = choice


async def start(update: Update, context: Context) -> int:
    if context.user_data is not None:
        context.user_data.clear()
    assert update.effective_message is not None
    await update.effective_message.reply_text(TEXT.format(step=0), reply_markup=keyboard(0))
    return 1


def pressed(step: int) -> Any:
    async def handler(update: Update, context: Context) -> int:
        query = update.callback_query
        assert query is not None
        await query.answer()
        if (query.data or "").endswith(":exit"):
            assert query.message is not None
            await context.bot.send_message(query.message.chat.id, "This chat has been closed.")
            return ConversationHandler.END
        _remember(context, step, query.data or "")
        await query.edit_message_text(TEXT.format(step=step), reply_markup=keyboard(step))
        return min(step + 1, STEPS)

    return handler


def typed(step: int) -> Any:
    async def handler(update: Update, context: Context) -> int:
        message = update.effective_message
        assert message is not None
        _remember(context, step, "typed")
        await message.reply_text(TEXT.format(step=step), reply_markup=keyboard(step))
        return min(step + 1, STEPS)

    return handler


def build(
    token: str, base_url: str | None, data: str, concurrent: int
) -> Application[Any, Any, Any, Any, Any, Any]:
    builder = (
        ApplicationBuilder()
        .token(token)
        .persistence(PicklePersistence(filepath=data))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
    )
    if base_url:
        builder = builder.base_url(base_url)
    if concurrent > 1:
        builder = builder.concurrent_updates(concurrent)
    application = builder.build()
    states: dict[object, list[BaseHandler[Update, Any, object]]] = {
        step: [
            CallbackQueryHandler(pressed(step)),
            MessageHandler(filters.TEXT & ~filters.COMMAND, typed(step)),
        ]
        for step in range(1, STEPS + 1)
    }
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states=states,
            fallbacks=[CommandHandler("start", start)],
            name="baseline",
            persistent=True,
        )
    )
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="the PicklePersistence file")
    parser.add_argument("--concurrent", type=int, default=1, help="updates handled at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    application = build(
        os.environ["TELEGRAM_BOT_TOKEN"],
        os.environ.get("TELEGRAM_API_BASE_URL"),
        args.data,
        args.concurrent,
    )
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)


if __name__ == "__main__":
    main()
