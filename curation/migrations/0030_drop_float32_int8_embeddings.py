"""The embedding cache keeps the int8 copy's vectors in float16 under a new key (`:int8-f16`,
curation.services.embedding_cache.STORED_DTYPES); the float32 rows under the old key would never
be read again."""

from django.db import migrations, models


def drop_float32_int8_rows(apps, schema_editor):
    cached = apps.get_model("curation", "CachedEmbedding")
    cached.objects.filter(model__endswith=":int8").delete()  # one DELETE: nothing refers to these rows


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0029_embedding_shares"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cachedembedding",
            name="vector",
            field=models.BinaryField(help_text="float32 values, unit length (float16 for the int8 copy)."),
        ),
        migrations.RunPython(drop_float32_int8_rows, migrations.RunPython.noop),
    ]
