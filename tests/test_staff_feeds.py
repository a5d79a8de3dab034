"""Staff manage feeds and import monitoring files from Telegram."""

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import Notification, PlanAction, StaffAction
from bot.i18n import ngettext, use_locale
from bot.services import feed_registry

ADMIN = 4242
SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "data" / "monitoring_sample.yaml"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


async def test_staff_add_list_pause_resume_and_remove_feeds(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/feeds")
    assert admin.last_bot_message.text.startswith("No feed is registered")
    await admin.send("/feeds add https://example.org/rss zone=genova strategy=s1")
    assert admin.last_bot_message.text.startswith("Feed #")
    async with db.transaction() as session:
        (feed,) = await feed_registry.list_feeds(session)
    assert (feed.default_zones, feed.default_strategies) == (["genova"], ["S1"])
    await admin.send("/feeds add https://example.org/rss")
    assert "already registered" in admin.last_bot_message.text
    await admin.send(f"/feeds pause {feed.id}")
    await admin.send("/feeds")
    assert f"#{feed.id} https://example.org/rss · paused" in admin.last_bot_message.text
    await admin.send(f"/feeds resume {feed.id}")
    assert admin.last_bot_message.text == f"Feed #{feed.id} resumed."
    await admin.send(f"/feeds remove {feed.id}")
    assert admin.last_bot_message.text == f"Feed #{feed.id} removed."
    await admin.send("/feeds frobnicate")
    assert admin.last_bot_message.text.startswith("Usage: /feeds")


async def test_a_monitoring_file_with_problems_imports_nothing(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    bad = b"code,strategy,title_it,status,progress\nA1,S1,Azione,ongoing,120\n"
    await admin.send_document("actions.csv", bad, mime_type="text/csv")
    text = admin.last_bot_message.text
    assert text.startswith("Nothing imported: ")
    assert "line 2" in text


async def count(db, model, *where) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


def imports_audited(db):
    return count(db, StaffAction, StaffAction.action == "monitoring_import")


async def test_a_monitoring_file_is_imported_and_again_changes_nothing(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    content = SAMPLE.read_bytes()
    await admin.send_document("monitoraggio.yaml", content, mime_type="application/x-yaml")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[:3] == [
        "Imported monitoraggio.yaml",
        "In the file: 13 new actions, 11 indicators, 20 measurements, 1 annual review.",
        "14 changes, 14 notifications queued:",
    ]
    assert "• New action S1.1: Sustainability steering board of Genova Metropoli" in lines
    assert "• The plan's annual review 2024" in lines
    assert len(lines) == 3 + 14
    assert not any("new_action" in line or "monitoring:" in line for line in lines)
    assert await imports_audited(db) == 1
    await admin.send_document("monitoraggio.yaml", content, mime_type="application/x-yaml")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[1] == "In the file: 13 actions, 11 indicators, 20 measurements, 1 annual review."
    assert lines[2:] == ["Nothing changed."]
    assert await imports_audited(db) == 2


async def test_the_import_report_is_in_the_staff_members_language(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="it")
    await admin.send_document("monitoraggio.yaml", SAMPLE.read_bytes(), mime_type="text/yaml")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[0] == "Importato monitoraggio.yaml"
    assert (
        "• Nuova azione S1.1: Cabina di regia per lo sviluppo sostenibile di Genova Metropoli"
        in (lines)
    )
    assert "• Revisione annuale 2024 del Piano" in lines
    with use_locale("it"):
        changes = ngettext("{count} change", "{count} changes", 14).format(count=14)
    assert lines[2].startswith(changes)


async def test_every_change_is_one_escaped_line_and_long_lists_are_cut(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    rows = [f"S2.{n},S2,Azione <{n}> & co,genova,,planned,0,,\n" for n in range(1, 26)]
    content = "code,strategy,title_it,zones,comuni,status,progress,start,end\n" + "".join(rows)
    await admin.send_document("azioni.csv", content.encode(), mime_type="text/csv")
    lines = admin.last_bot_message.text.splitlines()
    assert (
        lines[1] == "In the file: 25 new actions, 0 indicators, 0 measurements, 0 annual reviews."
    )
    assert lines[2] == "25 changes, 25 notifications queued:"
    assert lines[3] == "• New action S2.1: Azione <1> & co"
    assert len(lines) == 3 + 20 + 1
    assert lines[-1] == "…and 5 more changes"


async def test_a_dry_run_reports_what_would_change_and_changes_nothing(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    content = SAMPLE.read_bytes()
    await admin.send_document("monitoraggio.yaml", content, caption="Prova", mime_type="text/yaml")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[:3] == [
        "Check of monitoraggio.yaml: nothing was imported.",
        "In the file: 13 new actions, 11 indicators, 20 measurements, 1 annual review.",
        "14 changes would be made, 14 notifications would be queued:",
    ]
    assert "• New action S1.1: Sustainability steering board of Genova Metropoli" in lines
    assert lines[-1] == "To import it, send the file again without a caption."
    assert (await count(db, PlanAction), await count(db, Notification)) == (0, 0)
    assert await imports_audited(db) == 0
    # The check changed nothing: the real import still finds everything new.
    await admin.send_document("monitoraggio.yaml", content, mime_type="text/yaml")
    assert admin.last_bot_message.text.splitlines()[2] == "14 changes, 14 notifications queued:"
    assert (await count(db, PlanAction), await count(db, Notification)) == (13, 14)
    await admin.send_document("monitoraggio.yaml", content, caption=" DRY-RUN ")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[0] == "Check of monitoraggio.yaml: nothing was imported."
    assert lines[2] == "Nothing would change."
    await admin.send_document("monitoraggio.yaml", content, caption="check")
    assert admin.last_bot_message.text.startswith("Check of monitoraggio.yaml")
    assert (await count(db, Notification), await imports_audited(db)) == (14, 1)


async def test_a_dry_run_of_a_file_with_problems_lists_them(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    bad = b"code,strategy,title_it,status,progress\nA1,S1,Azione,ongoing,120\nA2,S1,B,x,1\n"
    await admin.send_document("actions.csv", bad, caption="check", mime_type="text/csv")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[0].startswith("Nothing imported: ") and lines[0].endswith(" problems.")
    assert any("line 2" in line for line in lines[1:])
    assert any("line 3" in line for line in lines[1:])
    assert await count(db, PlanAction) == 0


async def test_citizens_files_are_not_imported(db, sandbox, running_bot):
    citizen = sandbox.user(5, language_code="en")
    await citizen.send_document("monitoraggio.yaml", SAMPLE.read_bytes(), mime_type="text/yaml")
    assert not citizen.last_bot_message.text.startswith("Imported")


async def test_an_update_lists_each_kind_of_change_readably_in_italian(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="it")
    await admin.send_document("monitoraggio.yaml", SAMPLE.read_bytes(), mime_type="text/yaml")
    update = (Path(__file__).resolve().parent / "data" / "monitoring_update.csv").read_bytes()
    await admin.send_document("aggiornamento.csv", update, mime_type="text/csv")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[0] == "Importato aggiornamento.csv"
    tigullio = "Parco del Tigullio: modello di spazio urbano sostenibile"
    assert lines[3:] == [
        f"• S4.1 ora in ritardo: {tigullio}",
        f"• S4.1 finisce più tardi, il 30 giu 2026: {tigullio}",
        "• S2.1 al 75%: Great Campus di Erzelli: poli tecnologici e IIT",
        "• Nuova azione S5.2: Portale open data del monitoraggio",
        "• S4.1 obiettivo raggiunto: Superficie verde riqualificata",
        "• S2.1 nuovo valore: Addetti insediati nel parco tecnologico",
        "• Revisione annuale 2025 del Piano",
    ]


async def test_uploads_obey_the_progress_threshold_of_the_settings(settings, db, sandbox):
    from bot.config import MonitoringSettings
    from bot.runtime import polling
    from tests.conftest import compose_against

    header = "code,strategy,title_it,status,progress\n"
    strict = dataclasses.replace(settings, monitoring=MonitoringSettings(progress_threshold=30))
    bot = compose_against(sandbox, strict, db)
    admin = sandbox.user(ADMIN, language_code="en")
    async with polling(bot.application, poll_timeout=1):
        await admin.send_document(
            "actions.csv", (header + "S2.1,S2,Azione,in_progress,10\n").encode()
        )
        await admin.send_document(
            "actions.csv", (header + "S2.1,S2,Azione,in_progress,30\n").encode()
        )
        # 20 points is under the threshold of 30 (the default, 10, would announce it).
        assert admin.last_bot_message.text.splitlines()[2] == "Nothing changed."
        await admin.send_document(
            "actions.csv", (header + "S2.1,S2,Azione,in_progress,45\n").encode()
        )
        assert admin.last_bot_message.text.splitlines()[2].startswith("1 change, 1 notification")
