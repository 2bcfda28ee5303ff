"""factory_boy factories: quick valid rows. Examples get their real content hash."""

from __future__ import annotations

import factory
from django.contrib.auth.models import User

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
