"""The web chat's pages: a `Reply` as plain, escaped HTML that works without JavaScript.

Every page starts with "Exit this page" (a real form, first in tab order) and honest words about
what it cannot clear. Then the step: notices, its text, its service cards, its buttons (one
form) and a field to type an answer (another form, so Enter there never presses a button).
There is no inline script or style (the Content-Security-Policy allows neither), and every
text, from the flows, the directory or this file, is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bot.channels.cards import card_lines
from bot.engine.model import Button, Reply, ServiceCard, Text
from bot.i18n import SOURCE_LOCALE, Translator, _

EXIT_PATH = "/chat/exit"
CHAT_PATH = "/chat"
CSS_PATH = "/static/web.css"
JS_PATH = "/static/web.js"
EXIT_TRIGGER = "exit"  # the quick exit way out (flows/core.yaml): the top button does it
MAX_TYPED = 4096  # characters, as Telegram's limit for one message


# The web chat's own words, in the catalogues beside the flows' (docs/translations.md). Each
# is translated when the page is drawn, so these hold the English msgids.
# Translators: the large button on every web page that leaves at once.
# Use the words your language's official and support sites use for it.
EXIT_LABEL = _("Exit this page")
EXIT_WHAT = _("Exit this page takes you to another website and clears this chat here.")
EXIT_LIMITS = _(
    "It cannot clear your browser's history. Someone who uses this device may see that you "
    "visited this site. To leave no history, use a private window (also called incognito)."
)
SHIFT_TIP = _("You can also press the Shift key three times to leave at once.")
TYPE_LABEL = _("Or type your answer")
# Translators: the button beside the box for typing an answer
SEND_LABEL = _("Send")
TOO_LONG = _("That message was too long for me to read. Please send a shorter one.")
# The link on the page of a conversation that has ended, as the "Start again" button's words.
START_AGAIN = _("Start again")
BACK_TO_CHAT = _("Back to the chat")
FORBIDDEN = _(
    "That did not work, because this page was old or your browser did not send its cookie. "
    "Nothing has changed. This chat needs one cookie to remember where you are."
)
TOO_BIG = _("That was too much to send at once. Nothing has changed.")
TOO_MANY = _("Too many requests at once. Please wait a moment and try again. Nothing has changed.")
NOT_FOUND = _("There is nothing here.")
FAILED = _("Something went wrong on our side. Nothing you sent was kept.")


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def text_html(text: str) -> str:
    """Paragraphs (split at blank lines) and "- " lists; other line breaks kept as <br>."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        # Runs of plain lines and of list items, in order: (is a list, lines).
        runs: list[tuple[bool, list[str]]] = []
        for raw in paragraph.splitlines():
            line = raw.strip()
            if not line:
                continue
            is_item = line.startswith("- ")
            if is_item:
                line = line[2:].strip()
            if runs and runs[-1][0] == is_item:
                runs[-1][1].append(line)
            else:
                runs.append((is_item, [line]))
        for is_list, lines in runs:
            if is_list:
                out.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in lines) + "</ul>")
            else:
                out.append("<p>" + "<br>".join(escape(line) for line in lines) + "</p>")
    return "\n".join(out)


def phone_href(value: str) -> str | None:
    """A `tel:` address for a phone number as the directory writes it, or None."""
    if value.strip().startswith("+"):
        value = value.replace("(0)", "")  # +44 (0)20 ...: the 0 is not dialled from abroad
    digits = re.sub(r"[^\d+]", "", value)
    return f"tel:{digits}" if re.fullmatch(r"\+?\d{3,15}", digits) else None


def card_html(card: ServiceCard, tr: Translator, number: int) -> str:
    """A service as a section: its name as a heading, then each line of its card, with phone
    numbers as `tel:` links."""
    lines = card_lines(card, tr)
    name, description = lines[0], lines[1]
    contact_lines = lines[2 : 2 + len(card.contacts)]
    rest = lines[2 + len(card.contacts) :]
    heading = f"card-{number}"
    parts = [
        f'<section class="card" aria-labelledby="{heading}">',
        f'<h2 id="{heading}">{escape(name)}</h2>',
    ]
    if description:
        parts.append(f"<p>{escape(description)}</p>")
    if contact_lines:
        parts.append('<ul class="contacts">')
        for contact, line in zip(card.contacts, contact_lines, strict=True):
            shown = tr.isolate(contact.value)
            prefix = line.removesuffix(shown)
            href = phone_href(contact.value) if contact.kind == "phone" else None
            value = f'<a href="{escape(href)}">{escape(shown)}</a>' if href else escape(shown)
            parts.append(f"<li>{escape(prefix)}{value}</li>")
        parts.append("</ul>")
    *details, checked = rest
    parts += [f"<p>{escape(line)}</p>" for line in details if line]
    parts.append(f'<p class="checked">{escape(checked)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _lang(tr: Translator, msgid: str) -> str:
    """` lang="en" dir="ltr"` for the web chat's own words where this language has no
    translation of them, so a screen reader reads them as English (WCAG 3.1.2).

    The shipped catalogues translate every one (tests/test_i18n.py), so this is for catalogues
    that lag behind the code: an entry left fuzzy after its English changed (shown in English
    until reviewed), or a deployment's own `PATHWAYS_LOCALES` made before these words."""
    if tr.locale == SOURCE_LOCALE or tr.gettext(msgid) != msgid:
        return ""
    return f' lang="{SOURCE_LOCALE}" dir="ltr"'


def _say(tr: Translator, msgid: str, tag: str = "span", attrs: str = "") -> str:
    """One of the web chat's own sentences, translated and escaped, in its own element."""
    return f"<{tag}{attrs}{_lang(tr, msgid)}>{escape(tr.gettext(msgid))}</{tag}>"


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _button(button: Button, tr: Translator) -> str:
    value, label = escape(button.trigger), escape(tr.label(button))
    return f'<button type="submit" name="b" value="{value}">{label}</button>'


def exit_html(tr: Translator, exit_url: str, token: str) -> str:
    """The "Exit this page" form, and what it can and cannot do."""
    return "\n".join(
        [
            '<header class="exit">',
            f'<form class="exit-form" method="post" action="{EXIT_PATH}" target="_top" '
            f'data-exit-url="{escape(exit_url)}">',
            _hidden("csrf", token),
            _say(tr, EXIT_LABEL, "button", ' type="submit" class="exit-button"'),
            "</form>",
            '<div class="exit-note">',
            _say(tr, EXIT_WHAT, "p"),
            _say(tr, SHIFT_TIP, "p"),
            _say(tr, EXIT_LIMITS, "p"),
            "</div>",
            "</header>",
        ]
    )


def document(tr: Translator, title: str, body: Iterable[str]) -> str:
    direction = "rtl" if tr.right_to_left else "ltr"
    return "\n".join(
        [
            "<!doctype html>",
            f'<html lang="{escape(tr.locale)}" dir="{direction}">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{escape(title)}</title>",
            f'<link rel="stylesheet" href="{CSS_PATH}">',
            f'<script src="{JS_PATH}" defer></script>',
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def chat_page(
    reply: Reply,
    tr: Translator,
    *,
    title: str,
    exit_url: str,
    token: str,
    footer: Text | None = None,
) -> str:
    """The page for one step of the conversation."""
    body = [exit_html(tr, exit_url, token), '<main id="main">']
    body.append(f'<h1 class="visually-hidden">{escape(title)}</h1>')
    if reply.notices:
        notices = "\n".join(text_html(tr.render(n)) for n in reply.notices)
        body.append(f'<div class="notices" role="status">\n{notices}\n</div>')
    body.append(
        f'<div class="step" id="step" tabindex="-1" data-state="{escape(reply.state)}">\n'
        f"{text_html(tr.render(reply.text))}\n</div>"
    )
    body += [card_html(card, tr, number) for number, card in enumerate(reply.cards, start=1)]
    if reply.ends_session:
        # The conversation has ended (asked to be forgotten): nothing to answer, only a way
        # to begin again.
        body.append(
            "<p>" + _say(tr, START_AGAIN, "a", f' class="back" href="{CHAT_PATH}"') + "</p>"
        )
        body.append("</main>")
        return document(tr, title, body)
    shown = [b for b in reply.buttons if b.trigger != EXIT_TRIGGER]
    if shown:
        own = [_button(b, tr) for b in shown if not b.everywhere]
        ways = [_button(b, tr) for b in shown if b.everywhere]
        body.append(f'<form class="answers" method="post" action="{CHAT_PATH}">')
        body += [_hidden("csrf", token), _hidden("state", reply.state)]
        if own:
            body.append('<div class="choices">' + "".join(own) + "</div>")
        if ways:
            body.append('<div class="ways-out">' + "".join(ways) + "</div>")
        body.append("</form>")
    body += [
        f'<form class="typed" method="post" action="{CHAT_PATH}">',
        _hidden("csrf", token),
        _hidden("state", reply.state),
        _say(tr, TYPE_LABEL, "label", ' for="typed"'),
        '<div class="typed-row">',
        f'<input id="typed" name="t" type="text" maxlength="{MAX_TYPED}" autocomplete="off" '
        'dir="auto">',
        _say(tr, SEND_LABEL, "button", ' type="submit"'),
        "</div>",
        "</form>",
    ]
    if footer is not None:
        body.append(f'<p class="footer">{escape(tr.render(footer))}</p>')
    body.append("</main>")
    return document(tr, title, body)


def message_page(
    message: str, tr: Translator, *, title: str, exit_url: str, token: str = ""
) -> str:
    """A short page of its own (a refusal, an error), with Exit this page and a way back."""
    body = [
        exit_html(tr, exit_url, token),
        '<main id="main">',
        f'<h1 class="visually-hidden">{escape(title)}</h1>',
        f'<div class="step" id="step" tabindex="-1">{_say(tr, message, "p")}</div>',
        "<p>" + _say(tr, BACK_TO_CHAT, "a", f' class="back" href="{CHAT_PATH}"') + "</p>",
        "</main>",
    ]
    return document(tr, title, body)
