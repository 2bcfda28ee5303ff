"""Freezing dataset versions (curation/services/versions.py): what goes in, the split rules,
leakage, immutability at the database, and byte-identical exports."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from pytest_django import Settings

from curation.errors import Conflict, InvalidInput
from curation.models import (
    ClusterMember,
    DatasetVersion,
    DedupJob,
    DuplicateCluster,
    Example,
    ExampleStatus,
    Flag,
    FlagExample,
    FlagKind,
    FlagStatus,
    Project,
    Split,
    TaskType,
    VersionItem,
    VersionStatus,
)
from curation.services.content import content_hash
from curation.services.datacard import card_markdown
from curation.services.flags import flag_create
from curation.services.version_exports import export_hashes, export_lines
from curation.services.versions import freeze_preview, version_create, version_diff
from tests.conftest import Team
from tests.factories import LABELS, ExampleFactory

APPROVED = ExampleStatus.APPROVED

pytestmark = pytest.mark.usefixtures("media_in_tmp")


def approved(
    project: Project, count: int, *, label: str | None = None, prefix: str = "message"
) -> list[Example]:
    return [
        ExampleFactory.create(
            project=project,
            input=f"{prefix} {index}: {'lorem ipsum dolor ' * (index % 3)}what about item {index * 7919 % 1000}",
            output=label or LABELS[index % len(LABELS)],
            status=APPROVED,
        )
        for index in range(count)
    ]


def freeze(team: Team, **params: Any) -> DatasetVersion:
    version = version_create(project=team.project, user=team.lead, **params)
    version.refresh_from_db()
    return version


def split_of(version: DatasetVersion) -> dict[int, str]:
    return dict(VersionItem.objects.filter(version=version).values_list("example_id", "split"))


@pytest.mark.django_db
class TestInclusion:
    def test_only_approved_unique_uncontested_examples_with_output_are_frozen(self, team: Team) -> None:
        # Given approved examples, and others that must stay out for each reason
        kept = approved(team.project, 6)
        draft = ExampleFactory.create(project=team.project, status=ExampleStatus.DRAFT)
        rejected = ExampleFactory.create(project=team.project, status=ExampleStatus.REJECTED)
        duplicate = ExampleFactory.create(project=team.project, status=APPROVED, duplicate_of=kept[0])
        contested = ExampleFactory.create(project=team.project, status=APPROVED)
        flag = Flag.objects.create(project=team.project, kind=FlagKind.CONTRADICTION, examples_key="k")
        FlagExample.objects.create(flag=flag, example=contested, position=0)
        resolved_flag = Flag.objects.create(
            project=team.project, kind=FlagKind.CONTRADICTION, examples_key="r", status=FlagStatus.RESOLVED
        )
        FlagExample.objects.create(flag=resolved_flag, example=kept[1], position=0)
        silent = ExampleFactory.create(project=team.project, status=APPROVED, output="")
        # A label removed from the project since ("Save anyway"), and a validation job's finding
        stale = ExampleFactory.create(project=team.project, status=APPROVED, output="removed_label")
        misfit = ExampleFactory.create(project=team.project, status=APPROVED)
        format_flag = Flag.objects.create(project=team.project, kind=FlagKind.FORMAT, examples_key="f")
        FlagExample.objects.create(flag=format_flag, example=misfit, position=0)

        # When the preview is asked and the version frozen
        preview = freeze_preview(team.project)
        version = freeze(team)

        # Then the preview names each reason, and the version holds exactly the qualifying ones
        assert preview.included == 6
        assert preview.excluded == {
            "not_approved": 2,
            "duplicate": 1,
            "open_contradiction": 1,
            "invalid": 2,
            "empty_output": 1,
        }
        assert preview.samples["duplicate"] == [duplicate.pk]
        assert preview.samples["invalid"] == [stale.pk, misfit.pk]
        assert sorted(preview.samples["not_approved"]) == sorted([draft.pk, rejected.pk])
        assert preview.samples["open_contradiction"] == [contested.pk]
        assert preview.samples["empty_output"] == [silent.pk]
        assert version.status == VersionStatus.FROZEN
        assert set(split_of(version)) == {example.pk for example in kept}
        assert version.stats["excluded"]["duplicate"] == 1
        assert version.stats["excluded"]["invalid"] == 2
        assert version.stats["contradictions_resolved"] == 1

    def test_a_version_copies_content_so_later_edits_change_nothing(self, team: Team) -> None:
        # Given a frozen version
        examples = approved(team.project, 5)
        version = freeze(team, eval_fraction=0.2)
        before = list(export_lines(version, "all", "jsonl"))

        # When an example is edited and another deleted
        Example.objects.filter(pk=examples[0].pk).update(output="exchange_rate", input="edited later")
        Example.objects.filter(pk=examples[1].pk).delete()

        # Then the version's export and hash are unchanged
        assert list(export_lines(version, "all", "jsonl")) == before
        assert export_hashes(version)["all"] == version.sha256

    def test_nothing_to_freeze_is_a_conflict_and_no_version_is_left(self, team: Team) -> None:
        ExampleFactory.create(project=team.project, status=ExampleStatus.DRAFT)
        with pytest.raises(Conflict, match="Nothing to freeze"):
            version_create(project=team.project, user=team.lead)
        assert not DatasetVersion.objects.exists()

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            pytest.param({"eval_fraction": 0.9}, "eval_fraction", id="eval_fraction too big"),
            pytest.param({"eval_fraction": -0.1}, "eval_fraction", id="negative eval_fraction"),
            pytest.param({"seed": -1}, "seed", id="negative seed"),
            pytest.param({"name": "x" * 201}, "name", id="long name"),
        ],
    )
    def test_bad_parameters_are_refused_by_name(self, team: Team, params: dict[str, Any], field: str) -> None:
        approved(team.project, 3)
        with pytest.raises(InvalidInput) as refused:
            version_create(project=team.project, user=team.lead, **params)
        assert refused.value.field == field
        assert not DatasetVersion.objects.exists()

    def test_versions_are_numbered_within_the_project(self, team: Team) -> None:
        approved(team.project, 4)
        assert [freeze(team).number for _ in range(3)] == [1, 2, 3]
        assert DatasetVersion.objects.get(number=2).name == "v2"


@pytest.mark.django_db
class TestSplit:
    def test_same_data_and_seed_give_the_same_split_and_hash_and_another_seed_another_split(
        self, team: Team
    ) -> None:
        approved(team.project, 200)
        first, second = freeze(team, seed=7), freeze(team, seed=7)
        other = freeze(team, seed=8)
        # The later versions keep the first one's eval items in eval (lineage), so compare the
        # first version with a fresh project holding the same content instead.
        assert split_of(first) == split_of(second)
        assert first.sha256 == second.sha256
        assert set(split_of(other).items()) >= {
            (pk, "eval") for pk, side in split_of(first).items() if side == "eval"
        }

    def test_the_split_depends_on_content_and_seed_not_on_ids(self, team: Team) -> None:
        # Given the same content in two projects (different ids), frozen with one seed
        other_project = Project.objects.create(
            name="copy", task_type=team.project.task_type, target_behavior="x", labels=team.project.labels
        )
        approved(team.project, 150)
        for example in Example.objects.filter(project=team.project).order_by("-id"):  # reversed ids
            ExampleFactory.create(
                project=other_project, input=example.input, output=example.output, status=APPROVED
            )
        a = version_create(project=team.project, user=team.lead, seed=3)
        b = version_create(project=other_project, user=team.lead, seed=3)

        def eval_inputs(version: DatasetVersion) -> set[str]:
            return set(
                VersionItem.objects.filter(version=version, split=Split.EVAL).values_list("input", flat=True)
            )

        # Then the same inputs land in eval
        assert eval_inputs(a) == eval_inputs(b)
        assert len(eval_inputs(a)) == 15

    def test_classification_is_stratified_by_label(self, team: Team) -> None:
        # Given labels in proportions 100 / 60 / 30 / 10
        for label, count in zip(LABELS, (100, 60, 30, 10), strict=True):
            approved(team.project, count, label=label, prefix=label)

        # When frozen with a fifth held out
        version = freeze(team, eval_fraction=0.2)

        # Then each label has a fifth of its examples in eval
        labels = version.stats["labels"]
        assert labels["eval"] == {LABELS[0]: 20, LABELS[1]: 12, LABELS[2]: 6, LABELS[3]: 2}
        assert labels["train"] == {LABELS[0]: 80, LABELS[1]: 48, LABELS[2]: 24, LABELS[3]: 8}
        assert version.counts == {"train": 160, "eval": 40}

    def test_near_duplicate_groups_land_on_one_side(self, team: Team) -> None:
        # Given pairs with equal normalized inputs, and a dedup cluster of distinct wordings
        approved(team.project, 60)
        pairs = [
            (
                ExampleFactory.create(project=team.project, input=f"Where is card {n}?", status=APPROVED),
                ExampleFactory.create(project=team.project, input=f"where is CARD {n}", status=APPROVED),
            )
            for n in range(20)
        ]
        clustered = [
            ExampleFactory.create(project=team.project, input=text, status=APPROVED)
            for text in ("my card has not come", "card still not here", "no card yet, help")
        ]
        job = DedupJob.objects.create(project=team.project, method="embedding")
        cluster = DuplicateCluster.objects.create(
            project=team.project, job=job, kept=clustered[0], status="dissolved"
        )
        for example in clustered:
            ClusterMember.objects.create(cluster=cluster, example=example, similarity=0.9)

        # When frozen with a large eval share (so that a split group would show)
        sides = split_of(freeze(team, eval_fraction=0.5, seed=1))

        # Then every pair and the cluster sit on one side each, and both sides are used
        assert all(sides[a.pk] == sides[b.pk] for a, b in pairs)
        assert len({sides[example.pk] for example in clustered}) == 1
        assert set(sides.values()) == {"train", "eval"}

    def test_eval_items_of_earlier_versions_stay_in_eval(self, team: Team) -> None:
        # Given a first version
        approved(team.project, 100)
        first = freeze(team, eval_fraction=0.1, seed=0)
        first_eval = {pk for pk, side in split_of(first).items() if side == "eval"}

        # When more data arrives and versions are frozen with other seeds and fractions
        approved(team.project, 100, prefix="later")
        later = [freeze(team, eval_fraction=fraction, seed=seed) for fraction, seed in ((0.1, 5), (0.05, 9))]

        # Then the first version's eval items are in eval in every later one
        for version in later:
            sides = split_of(version)
            assert all(sides[pk] == "eval" for pk in first_eval)
        assert later[0].counts["eval"] == 20

    def test_an_eval_item_re_imported_with_a_new_id_stays_in_eval(self, team: Team) -> None:
        approved(team.project, 50)
        first = freeze(team, eval_fraction=0.2)
        evaluated = Example.objects.get(pk=next(pk for pk, side in split_of(first).items() if side == "eval"))
        text, output = evaluated.input, evaluated.output
        evaluated.delete()
        again = ExampleFactory.create(project=team.project, input=text, output=output, status=APPROVED)
        assert split_of(freeze(team, eval_fraction=0.2))[again.pk] == "eval"


@pytest.mark.django_db
class TestLeakage:
    def test_near_copies_across_the_split_are_reported_and_can_block_the_freeze(
        self, team: Team, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Given texts and near copies (one word changed) that no dedup job clustered
        base = [
            f"Could you please tell me why my transfer number {n} to the savings account has not arrived yet"
            for n in range(40)
        ]
        for text in base:
            ExampleFactory.create(project=team.project, input=text, status=APPROVED)
            ExampleFactory.create(
                project=team.project, input=text.replace("please", "kindly"), status=APPROVED
            )

        # When frozen with half held out
        version = freeze(team, eval_fraction=0.5, seed=2)

        # Then n-gram leakage is found and named with example pairs
        leakage = version.leakage
        assert leakage["checked"] is True
        assert leakage["methods"]["exact"]["pairs"] == 0
        assert leakage["methods"]["ngram"]["pairs"] > 0
        assert leakage["near_duplicate_pairs"] >= leakage["methods"]["ngram"]["pairs"]
        sides = split_of(version)
        for pair in leakage["examples"]:
            assert {sides[pair["train"]], sides[pair["eval"]]} == {"train", "eval"}

        # And a freeze that blocks on leakage fails, naming it, and keeps no items; the lead's
        # rule, not a fault: a WARNING line, no traceback
        with caplog.at_level(logging.WARNING, logger="curation.services.versions"):
            blocked = freeze(team, eval_fraction=0.5, seed=2, block_on_leakage=True)
        assert blocked.status == VersionStatus.FAILED
        assert "Leakage found" in blocked.error
        (refused,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
        assert refused.levelname == "WARNING" and not refused.exc_info
        assert not VersionItem.objects.filter(version=blocked).exists()
        # and it keeps what blocked it: the pairs the check found (it read "checked": false, 0)
        assert (
            blocked.leakage["checked"]
            and blocked.leakage["near_duplicate_pairs"] == leakage["near_duplicate_pairs"]
        )

    def test_clean_data_reports_no_leakage(self, team: Team) -> None:
        approved(team.project, 40)
        leakage = freeze(team, eval_fraction=0.25).leakage
        assert leakage["near_duplicate_pairs"] == 0
        assert set(leakage["methods"]) == {"exact", "ngram", "embedding"}

    def test_the_embedding_check_is_skipped_with_a_reason_beyond_the_limit(
        self, team: Team, settings: Settings
    ) -> None:
        settings.FINCH_LEAKAGE_EMBED_LIMIT = 5
        approved(team.project, 20)
        leakage = freeze(team).leakage
        assert "FINCH_LEAKAGE_EMBED_LIMIT" in leakage["methods"]["embedding"]["skipped"]


@pytest.mark.django_db(transaction=False)
class TestImmutability:
    @pytest.fixture
    def version(self, team: Team) -> DatasetVersion:
        approved(team.project, 10)
        return freeze(team, eval_fraction=0.2)

    @pytest.mark.parametrize(
        "statement",
        [
            pytest.param(
                "UPDATE curation_versionitem SET output = 'changed' WHERE version_id = %s", id="item update"
            ),
            pytest.param("DELETE FROM curation_versionitem WHERE version_id = %s", id="item delete"),
            pytest.param(
                "UPDATE curation_datasetversion SET name = 'renamed' WHERE id = %s", id="version update"
            ),
            pytest.param("DELETE FROM curation_datasetversion WHERE id = %s", id="version delete"),
            pytest.param(
                "INSERT INTO curation_versionitem (version_id, example_id, split, input, output, metadata,"
                " source, content_hash) VALUES (%s, 999999, 'train', 'x', 'y', '{}', '', 'h')",
                id="item insert",
            ),
        ],
    )
    def test_raw_sql_cannot_change_a_frozen_version(self, version: DatasetVersion, statement: str) -> None:
        with (
            pytest.raises(IntegrityError, match="frozen"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [version.pk])
        version.refresh_from_db()
        assert version.name == "v1"
        assert VersionItem.objects.filter(version=version).count() == 10
        assert export_hashes(version)["all"] == version.sha256

    @pytest.mark.parametrize(
        "statement",
        [
            pytest.param("TRUNCATE curation_versionitem", id="items"),
            pytest.param("TRUNCATE curation_datasetversion CASCADE", id="versions"),
            pytest.param("TRUNCATE curation_project CASCADE", id="projects"),
        ],
    )
    def test_truncate_cannot_empty_frozen_versions(self, version: DatasetVersion, statement: str) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("SQLite has no TRUNCATE (its DELETE without WHERE meets the row triggers)")
        with (
            pytest.raises(IntegrityError, match="frozen"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the freeze's deferred checks, as if committed
            cursor.execute(statement)
        assert VersionItem.objects.filter(version=version).count() == 10
        assert export_hashes(version)["all"] == version.sha256

    def test_truncate_works_while_no_version_is_frozen(self, team: Team) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("SQLite has no TRUNCATE")
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE curation_versionitem")
        assert not VersionItem.objects.exists()

    def test_sqlite_delete_without_where_cannot_empty_them(self, version: DatasetVersion) -> None:
        with (
            pytest.raises(IntegrityError, match="frozen"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM curation_versionitem")
        assert VersionItem.objects.filter(version=version).count() == 10

    def test_the_orm_cannot_either(self, version: DatasetVersion) -> None:
        version.note = "edited"
        with pytest.raises(IntegrityError), transaction.atomic():
            version.save()
        with pytest.raises(IntegrityError), transaction.atomic():
            VersionItem.objects.filter(version=version).update(output="x")


@pytest.mark.django_db
class TestExports:
    @pytest.fixture
    def version(self, team: Team) -> DatasetVersion:
        team.project.system_prompt = "Name the intent of the banking message."
        team.project.save()
        approved(team.project, 30)
        ExampleFactory.create(
            project=team.project, input="Überweisung - wann kommt sie? 日本", status=APPROVED
        )
        return freeze(team, eval_fraction=0.2)

    @pytest.mark.parametrize("file_format", ["jsonl", "openai_chat", "alpaca"])
    def test_every_export_is_byte_identical_canonical_utf8_json_lines(
        self, version: DatasetVersion, file_format: str
    ) -> None:
        first = "".join(export_lines(version, "all", file_format)).encode("utf-8")
        assert first == "".join(export_lines(version, "all", file_format)).encode("utf-8")
        lines = first.decode("utf-8").splitlines(keepends=True)
        assert len(lines) == 31 and all(line.endswith("\n") for line in lines)
        for line in lines:
            record = json.loads(line)
            assert (
                line == json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            )
        assert "日本" in first.decode("utf-8")

    def test_the_version_hash_is_the_canonical_exports_and_verify_version_checks_it(
        self, version: DatasetVersion
    ) -> None:
        canonical = "".join(export_lines(version, "all", "jsonl")).encode("utf-8")
        assert hashlib.sha256(canonical).hexdigest() == version.sha256
        train = "".join(export_lines(version, "train", "jsonl")).encode("utf-8")
        assert hashlib.sha256(train).hexdigest() == version.manifest["sha256"]["train"]
        output = StringIO()
        call_command("verify_version", version.pk, stdout=output)
        assert "verified" in output.getvalue()

    def test_verify_version_fails_on_a_tampered_version(self, version: DatasetVersion) -> None:
        # Tampering needs the triggers out of the way, as an attacker with DDL rights would
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER version_item_update"
                + (" ON curation_versionitem" if connection.vendor == "postgresql" else "")
            )
            cursor.execute(
                "UPDATE curation_versionitem SET output = 'tampered' WHERE version_id = %s", [version.pk]
            )
        with pytest.raises(CommandError, match="does not match"):
            call_command("verify_version", version.pk, stdout=StringIO())

    def test_verify_version_fails_on_a_tampered_stored_file(self, version: DatasetVersion) -> None:
        from django.core.files.storage import default_storage

        name = version.manifest["files"]["eval"]
        with default_storage.open(name, "rb") as handle:
            original = handle.read()
        with open(default_storage.path(name), "wb") as handle:
            handle.write(original.replace(b'"split":"eval"', b'"split":"train"', 1))
        with pytest.raises(CommandError, match="eval file"):
            call_command("verify_version", version.pk, stdout=StringIO())

    def test_openai_chat_lines_pass_the_openai_format_checks(self, version: DatasetVersion) -> None:
        for line in export_lines(version, "all", "openai_chat"):
            assert openai_format_errors(json.loads(line)) == []
        first = json.loads(next(iter(export_lines(version, "train", "openai_chat"))))
        assert [message["role"] for message in first["messages"]] == ["system", "user", "assistant"]
        assert first["messages"][0]["content"] == "Name the intent of the banking message."

    def test_alpaca_lines_carry_the_instruction(self, version: DatasetVersion) -> None:
        record = json.loads(next(iter(export_lines(version, "eval", "alpaca"))))
        assert set(record) == {"instruction", "input", "output"}
        assert record["instruction"] == "Name the intent of the banking message."

    def test_the_huggingface_export_loads_with_datasets(self, version: DatasetVersion, tmp_path: Any) -> None:
        from datasets import load_dataset

        from curation.services.version_exports import hf_dataset_save

        folder = hf_dataset_save(version, tmp_path / "dataset")
        loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
        assert set(loaded) == {"train", "eval"}
        assert (len(loaded["train"]), len(loaded["eval"])) == (
            version.counts["train"],
            version.counts["eval"],
        )
        eval_ids = {pk for pk, side in split_of(version).items() if side == "eval"}
        assert set(loaded["eval"]["id"]) == eval_ids
        assert "## Counts" in (folder / "README.md").read_text()


def openai_format_errors(example: dict[str, Any]) -> list[str]:
    """The per-example checks of OpenAI's chat fine-tuning data-preparation script."""
    errors: list[str] = []
    messages = example.get("messages")
    if not messages:
        return ["missing_messages_list"]
    for message in messages:
        if "role" not in message or "content" not in message:
            errors.append("message_missing_key")
        if any(key not in ("role", "content", "name", "function_call", "weight") for key in message):
            errors.append("message_unrecognized_key")
        if message.get("role") not in ("system", "user", "assistant", "function"):
            errors.append("unrecognized_role")
        content = message.get("content")
        if not content or not isinstance(content, str):
            errors.append("missing_content")
    if not any(message.get("role") == "assistant" for message in messages):
        errors.append("example_missing_assistant_message")
    return errors


@pytest.mark.django_db
def test_diff_names_added_removed_changed_and_moved_examples(team: Team) -> None:
    examples = approved(team.project, 20)
    old = freeze(team, eval_fraction=0.2)
    Example.objects.filter(pk=examples[0].pk).update(status=ExampleStatus.REJECTED)
    changed = examples[1]
    Example.objects.filter(pk=changed.pk).update(
        output="lost_or_stolen_card", content_hash=content_hash(changed.input, "lost_or_stolen_card")
    )
    added = approved(team.project, 1, prefix="new")[0]
    new = freeze(team, eval_fraction=0.2)
    diff = version_diff(old, new)
    assert diff.added == [added.pk]
    assert diff.removed == [examples[0].pk]
    assert diff.changed == [examples[1].pk]
    assert Counter(split_of(new).values())["eval"] >= 4


@pytest.mark.django_db
def test_a_chat_version_exports_its_conversations(team: Team) -> None:
    # Given a chat project whose inputs are conversations (stored as canonical JSON)
    from curation.services.content import canonical_json

    project = team.project
    project.task_type, project.labels, project.system_prompt = "chat", [], "Be brief."
    project.save()
    for index in range(10):
        turns = [{"role": "user", "content": f"Question number {index}: is the branch {index} open?"}]
        ExampleFactory.create(
            project=project, input=canonical_json(turns), output=f"Yes, {index}.", status=APPROVED
        )

    # When it is frozen
    version = freeze(team, eval_fraction=0.2)

    # Then the stored canonical files match the items, and the chat export keeps the turns
    assert export_hashes(version)["all"] == version.sha256
    call_command("verify_version", version.pk, stdout=StringIO())
    record = json.loads(next(iter(export_lines(version, "train", "jsonl"))))
    assert isinstance(record["input"], list) and record["input"][0]["role"] == "user"
    chat = [json.loads(line) for line in export_lines(version, "all", "openai_chat")]
    assert all(openai_format_errors(line) == [] for line in chat)
    assert [message["role"] for message in chat[0]["messages"]] == ["system", "user", "assistant"]


@pytest.mark.django_db
def test_a_redelivered_freeze_starts_over_from_a_half_copied_version(team: Team) -> None:
    # Given a version a killed worker left freezing, with part of its items copied
    from curation.tasks import freeze_version

    examples = approved(team.project, 8)
    version = DatasetVersion.objects.create(project=team.project, number=1, eval_fraction=0.25)
    VersionItem.objects.create(
        version=version,
        example_id=examples[0].pk,
        split="eval",
        input="stale",
        output="x",
        content_hash="0" * 64,
    )

    # When the task is delivered again
    freeze_version(version.pk)

    # Then the version is frozen with every example once, copied afresh
    version.refresh_from_db()
    assert version.status == VersionStatus.FROZEN
    items = VersionItem.objects.filter(version=version)
    assert sorted(items.values_list("example_id", flat=True)) == sorted(example.pk for example in examples)
    assert not items.filter(input="stale").exists()
    assert export_hashes(version)["all"] == version.sha256

    # And a third delivery leaves the frozen version alone
    freeze_version(version.pk)
    assert VersionItem.objects.filter(version=version).count() == 8


@pytest.mark.django_db
def test_a_version_without_eval_split_is_all_train(team: Team) -> None:
    approved(team.project, 12)
    version = freeze(team, eval_fraction=0.0)
    assert version.status == VersionStatus.FROZEN
    assert version.counts == {"train": 12, "eval": 0}
    assert version.leakage["near_duplicate_pairs"] == 0
    assert list(export_lines(version, "eval", "jsonl")) == []


@pytest.mark.django_db
class TestConflictingInputs:
    """A freeze measures the inputs it holds under two answers, which no flag kept out."""

    def conflicting(self, team: Team) -> tuple[Example, Example]:
        first = ExampleFactory.create(
            project=team.project, input="Card stuck in ATM", output=LABELS[0], status=APPROVED
        )
        second = ExampleFactory.create(
            project=team.project, input="card stuck in atm!", output=LABELS[1], status=APPROVED
        )
        ExampleFactory.create(
            project=team.project, input="CARD STUCK IN ATM", output=LABELS[0], status=APPROVED
        )
        return first, second

    def test_the_version_counts_them_names_them_and_its_page_and_card_say_so(
        self, team: Team, client: Any
    ) -> None:
        first, second = self.conflicting(team)
        approved(team.project, 6)

        version = freeze(team, eval_fraction=0.2)

        conflicts = version.stats["conflicting_inputs"]
        assert (conflicts["inputs"], conflicts["examples"]) == (1, 3)
        assert first.pk in conflicts["sample"][0] and second.pk in conflicts["sample"][0]
        assert "Inputs under two answers or more (equal once normalized): 1 (3 examples)" in card_markdown(
            version
        )
        client.force_login(team.reviewer)
        page = client.get(f"/versions/{version.pk}/").content.decode()
        assert "1 input under two answers or more</span> (3 examples)" in page
        assert f'<a href="/examples/{second.pk}/">{second.pk}</a>' in page

    def test_an_open_contradiction_flag_keeps_them_out_and_then_none_conflict(self, team: Team) -> None:
        first, second = self.conflicting(team)
        flag_create(
            project=team.project,
            user=team.reviewer,
            kind=FlagKind.CONTRADICTION,
            example_ids=[first.pk, second.pk],
        )

        version = freeze(team, eval_fraction=0.0)

        assert version.stats["conflicting_inputs"] == {"inputs": 0, "examples": 0, "sample": []}

    def test_free_text_projects_are_not_measured(self, team: Team) -> None:
        team.project.task_type = TaskType.GENERATION
        team.project.save()
        self.conflicting(team)

        assert "conflicting_inputs" not in freeze(team, eval_fraction=0.0).stats
