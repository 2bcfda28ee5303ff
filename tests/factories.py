"""factory_boy factories: quick valid rows. Examples get their real content hash."""

from __future__ import annotations

from collections.abc import Iterable

import factory
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from curation.models import Example, ExampleStatus, Membership, Project, Role, TaskType
from curation.services.content import content_hash

LABELS = ["card_arrival", "card_linking", "exchange_rate", "lost_or_stolen_card"]


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class ProjectFactory(factory.django.DjangoModelFactory[Project]):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    task_type = TaskType.CLASSIFICATION
    target_behavior = "Route banking messages to an intent."
    labels = factory.LazyFunction(lambda: list(LABELS))


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class ExampleFactory(factory.django.DjangoModelFactory[Example]):
    class Meta:
        model = Example

    project = factory.SubFactory(ProjectFactory)
    input = factory.Sequence(lambda n: f"When will my card {n} arrive?")
    output = "card_arrival"
    status = ExampleStatus.SUBMITTED
    content_hash = factory.LazyAttribute(lambda example: content_hash(example.input, example.output))


def sharing_a_project(*users: User) -> Project:
    """Another project the users all belong to, so that a lead among them may add the others."""
    project = ProjectFactory.create()
    for user in users:
        MembershipFactory.create(project=project, user=user)
    return project


def many_examples(
    project: Project, rows: Iterable[tuple[str, str]], status: str = ExampleStatus.DRAFT
) -> list[int]:
    """An example per (input, output), in order, with its real content hash; their ids. For the
    tens of thousands of rows a job under test needs: on PostgreSQL by COPY, as Django's
    bulk_create binds every value client-side (psycopg's client cursor: 40 s for 200,000 rows)."""
    hashed = [(text, output, content_hash(text, output)) for text, output in rows]
    first = (
        Example.objects.filter(project=project).order_by("-id").values_list("id", flat=True).first()
    ) or 0
    if connection.vendor == "postgresql":
        columns = (
            "project_id, input, output, content_hash, status, created_at, updated_at,"
            " metadata, revision, last_change, source"
        )
        now = timezone.now()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Example._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            for text, output, key in hashed:
                copy.write_row(
                    (project.pk, text, output, key, status, now, now, "{}", 1, "created", "manual")
                )
    else:
        Example.objects.bulk_create(
            (
                Example(project=project, input=text, output=output, content_hash=key, status=status)
                for text, output, key in hashed
            ),
            batch_size=5_000,
        )
    return list(
        Example.objects.filter(project=project, id__gt=first).order_by("id").values_list("id", flat=True)
    )
