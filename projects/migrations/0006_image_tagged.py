from django.db import migrations, models
from django.db.models import Exists, OuterRef


def tagged_from_rows(apps, schema_editor):
    """Existing images: tagged when they carry a tag now."""
    Image = apps.get_model("projects", "Image")
    ImageTag = apps.get_model("projects", "ImageTag")
    Image.objects.update(tagged=Exists(ImageTag.objects.filter(image=OuterRef("pk"))))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0005_listing_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="image",
            name="tagged",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(tagged_from_rows, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="image", name="image_project_newest"),
        migrations.AddIndex(
            model_name="image",
            index=models.Index(
                fields=["project", "removed_at", "-created_at", "id", "tagged"],
                name="image_project_live_newest",
            ),
        ),
    ]
