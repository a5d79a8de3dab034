"""A local stand-in for the Telegram Bot API, for end-to-end tests and offline demos.

    async with BotApiSandbox(token="123456:TEST", bot_username="psm_test_bot") as sandbox:
        application = (
            ApplicationBuilder().token(sandbox.token)
            .base_url(sandbox.base_url).base_file_url(sandbox.base_file_url).build()
        )
        ...  # add handlers, initialize, start polling
        anna = sandbox.user(1001, first_name="Anna", language_code="it")
        [welcome] = await anna.send("/start zone_genova")
        actions = await anna.press("Iscriviti")
        print(sandbox.render_transcript(anna.chat_id))
        sandbox.assert_no_rejections()

Requests are validated against the packaged Bot API schema (``bot-api-spec.json``) and
Telegram's text/keyboard rules; see ``BotApiSandbox`` and ``SandboxUser``. Error answers use
the official server's words (``shared/telegram/errors.json``; tests/sandbox/test_sandbox_errors
provokes each of them).
"""

from .dispatcher import ApiCall, Rejection
from .errors import ApiError
from .sandbox import BotApiSandbox
from .transcript import TranscriptEntry
from .users import SandboxUser
from .validation import UploadedFile

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApiSandbox",
    "Rejection",
    "SandboxUser",
    "TranscriptEntry",
    "UploadedFile",
]
