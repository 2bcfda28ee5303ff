"""Flags: raising, the one-open-flag rule, resolutions."""

import pytest

from curation.errors import Conflict, InvalidInput
from curation.models import Example, ExampleStatus, FlagStatus, Review
from curation.services.flags import flag_create, flag_resolve
from tests.conftest import Team
from tests.factories import ExampleFactory, ProjectFactory


@pytest.fixture
def pair(team: Team) -> list[int]:
    first = ExampleFactory.create(project=team.project, input="Card arrival?", output="card_arrival")
    second = ExampleFactory.create(project=team.project, input="Card arrival?!", output="card_linking")
    return [first.pk, second.pk]


@pytest.mark.django_db
class TestRaise:
    def test_contradiction_keeps_the_order_named(self, team: Team, pair: list[int]) -> None:
        flag = flag_create(
            project=team.project, user=team.annotator, kind="contradiction", example_ids=pair[::-1]
        )
        assert list(flag.memberships.values_list("example_id", flat=True)) == pair[::-1]
        assert flag.raised_by == "user"

    @pytest.mark.parametrize("count", [1, 3])
    def test_contradiction_names_exactly_two(self, team: Team, count: int) -> None:
        ids = [ExampleFactory.create(project=team.project).pk for _ in range(count)]
        with pytest.raises(InvalidInput, match="exactly two"):
            flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=ids)

    def test_examples_of_another_project_are_not_found(self, team: Team, pair: list[int]) -> None:
        stranger = ExampleFactory.create(project=ProjectFactory.create())
        with pytest.raises(InvalidInput, match=f"No example with id {stranger.pk}"):
            flag_create(
                project=team.project,
                user=team.annotator,
                kind="contradiction",
                example_ids=[pair[0], stranger.pk],
            )

    def test_same_open_flag_in_any_order_is_a_conflict(self, team: Team, pair: list[int]) -> None:
        flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)
        with pytest.raises(Conflict, match="already names these examples"):
            flag_create(
                project=team.project, user=team.reviewer, kind="contradiction", example_ids=pair[::-1]
            )

    def test_a_closed_flag_does_not_block_a_new_one(self, team: Team, pair: list[int]) -> None:
        flag = flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)
        flag_resolve(flag=flag, user=team.reviewer, resolution="keep_both")
        assert flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)


@pytest.mark.django_db
class TestResolve:
    @pytest.mark.parametrize(("resolution", "loser"), [("keep_first", 1), ("keep_second", 0)])
    def test_keeping_one_rejects_the_other(
        self, team: Team, pair: list[int], resolution: str, loser: int
    ) -> None:
        flag = flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)
        flag_resolve(flag=flag, user=team.reviewer, resolution=resolution, note="label guide §3")
        flag.refresh_from_db()
        assert (flag.status, flag.resolution, flag.resolved_by) == (
            FlagStatus.RESOLVED,
            resolution,
            team.reviewer,
        )
        statuses = dict(Example.objects.filter(pk__in=pair).values_list("pk", "status"))
        assert statuses[pair[loser]] == ExampleStatus.REJECTED
        assert statuses[pair[1 - loser]] == ExampleStatus.SUBMITTED
        assert Review.objects.get(example_id=pair[loser]).decision == "reject"

    def test_dismiss_changes_no_example(self, team: Team, pair: list[int]) -> None:
        flag = flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)
        flag_resolve(flag=flag, user=team.reviewer, resolution="dismiss")
        flag.refresh_from_db()
        assert flag.status == FlagStatus.DISMISSED
        assert not Review.objects.exists()

    def test_resolving_twice_is_a_conflict(self, team: Team, pair: list[int]) -> None:
        flag = flag_create(project=team.project, user=team.annotator, kind="contradiction", example_ids=pair)
        flag_resolve(flag=flag, user=team.reviewer, resolution="keep_both")
        with pytest.raises(Conflict, match="already resolved"):
            flag_resolve(flag=flag, user=team.lead, resolution="keep_first")

    def test_keep_first_only_resolves_contradictions(self, team: Team, pair: list[int]) -> None:
        flag = flag_create(project=team.project, user=team.annotator, kind="quality", example_ids=pair)
        with pytest.raises(InvalidInput, match="contradiction flags only"):
            flag_resolve(flag=flag, user=team.reviewer, resolution="keep_first")
        flag.refresh_from_db()
        assert flag.status == FlagStatus.OPEN
