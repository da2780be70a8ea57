"""ImageCount: each project's live and tagged images, kept by triggers on projects_image.

The triggers run inside the statement that changes the images, so the counts commit or roll back
with them whatever wrote them (the ORM, a bulk `update()` or `delete()`, raw SQL). PostgreSQL
counts once a statement from its transition tables; SQLite, which has only row triggers, once a
row. A new project's row is made by its first image (an upsert); a deleted image's only
subtracts, so deleting a project (whose row Django deletes too, in any order) never makes one
again. The backfill runs after the triggers exist, in the same transaction: on PostgreSQL,
CREATE TRIGGER holds writers to projects_image off until the migration commits.
"""

import django.db.models.deletion
from django.db import migrations, models

# A statement's changes per project: +1 for each live image it made or left, -1 for each live
# image it took away or changed; `tagged` the same for the live tagged ones.
_PG_DELTAS = """
    SELECT project_id, sum(live) AS live, sum(tagged) AS tagged FROM (
        {plus}
        {minus}
    ) AS changes GROUP BY project_id
"""
_PG_PLUS = (
    "SELECT project_id, 1 AS live, tagged::int AS tagged FROM new_rows WHERE removed_at IS NULL"
)
_PG_MINUS = (
    "SELECT project_id, -1 AS live, -(tagged::int) AS tagged FROM old_rows WHERE removed_at IS NULL"
)

# Ordered by project, so two statements touching the same projects lock their rows in one order.
_PG_UPSERT = """
    INSERT INTO projects_imagecount AS c (project_id, live, tagged)
    SELECT project_id, live, tagged FROM ({deltas}) AS d
    WHERE live <> 0 OR tagged <> 0 ORDER BY project_id
    ON CONFLICT (project_id) DO UPDATE
    SET live = c.live + EXCLUDED.live, tagged = c.tagged + EXCLUDED.tagged;
"""
_PG_SUBTRACT = """
    UPDATE projects_imagecount AS c SET live = c.live + d.live, tagged = c.tagged + d.tagged
    FROM ({deltas}) AS d WHERE c.project_id = d.project_id;
"""
_PG_FUNCTION = """
CREATE FUNCTION projects_image_count_{op}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {body}
    RETURN NULL;
END $$;
CREATE TRIGGER projects_image_count_{op} AFTER {event} ON projects_image
    REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION projects_image_count_{op}();
"""
_UNION = " UNION ALL "
PG_INSTALL = [
    _PG_FUNCTION.format(
        op="insert",
        event="INSERT",
        tables="NEW TABLE AS new_rows",
        body=_PG_UPSERT.format(deltas=_PG_DELTAS.format(plus=_PG_PLUS, minus="")),
    ),
    _PG_FUNCTION.format(
        op="update",
        event="UPDATE",
        tables="OLD TABLE AS old_rows NEW TABLE AS new_rows",
        body=_PG_UPSERT.format(deltas=_PG_DELTAS.format(plus=_PG_PLUS, minus=_UNION + _PG_MINUS)),
    ),
    _PG_FUNCTION.format(
        op="delete",
        event="DELETE",
        tables="OLD TABLE AS old_rows",
        body=_PG_SUBTRACT.format(deltas=_PG_DELTAS.format(plus=_PG_MINUS, minus="")),
    ),
]
PG_UNINSTALL = [
    f"DROP TRIGGER projects_image_count_{op} ON projects_image;"
    f"DROP FUNCTION projects_image_count_{op}();"
    for op in ("insert", "update", "delete")
]

# SQLite: a row's part in the counts, as 0 or 1 (whether it is live; live and tagged).
_SQLITE_ADD = """
    INSERT INTO projects_imagecount (project_id, live, tagged)
    VALUES (NEW.project_id, NEW.removed_at IS NULL, NEW.removed_at IS NULL AND NEW.tagged)
    ON CONFLICT (project_id) DO UPDATE
    SET live = live + excluded.live, tagged = tagged + excluded.tagged;
"""
_SQLITE_SUBTRACT = """
    UPDATE projects_imagecount SET
        live = live - (OLD.removed_at IS NULL),
        tagged = tagged - (OLD.removed_at IS NULL AND OLD.tagged)
    WHERE project_id = OLD.project_id;
"""
SQLITE_INSTALL = [
    f"""CREATE TRIGGER projects_image_count_insert AFTER INSERT ON projects_image
    WHEN NEW.removed_at IS NULL BEGIN {_SQLITE_ADD} END;""",
    # Only an update that changes what the image counts as, or where, touches the counts.
    f"""CREATE TRIGGER projects_image_count_update
    AFTER UPDATE OF project_id, removed_at, tagged ON projects_image
    WHEN OLD.project_id IS NOT NEW.project_id
        OR (OLD.removed_at IS NULL) IS NOT (NEW.removed_at IS NULL)
        OR (OLD.removed_at IS NULL AND OLD.tagged) IS NOT (NEW.removed_at IS NULL AND NEW.tagged)
    BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END;""",
    f"""CREATE TRIGGER projects_image_count_delete AFTER DELETE ON projects_image
    WHEN OLD.removed_at IS NULL BEGIN {_SQLITE_SUBTRACT} END;""",
]
SQLITE_UNINSTALL = [
    f"DROP TRIGGER projects_image_count_{op};" for op in ("insert", "update", "delete")
]

BACKFILL = """
    INSERT INTO projects_imagecount (project_id, live, tagged)
    SELECT project_id, count(*), count(CASE WHEN tagged THEN 1 END)
    FROM projects_image WHERE removed_at IS NULL GROUP BY project_id;
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL}[vendor]
    for sql in [*statements, BACKFILL]:
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": PG_UNINSTALL, "sqlite": SQLITE_UNINSTALL}[vendor]:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0009_image_live_tagged_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ImageCount",
            fields=[
                (
                    "project",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="projects.project",
                    ),
                ),
                ("live", models.IntegerField(default=0)),
                ("tagged", models.IntegerField(default=0)),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
