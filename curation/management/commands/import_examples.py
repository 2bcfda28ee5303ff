from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from curation.errors import ApplicationError
from curation.models import ImportJob, JobStatus, Project
from curation.pipeline.formats import FORMATS
from curation.services.import_uploads import upload_release
from curation.services.imports import import_job_create, import_run
from curation.services.jobs import job_run

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import a file of examples into a project, showing progress (the same service as the API)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", type=int, help="Project id.")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", default="auto", choices=FORMATS)
        parser.add_argument("--input-field", default="")
        parser.add_argument("--output-field", default="")
        parser.add_argument(
            "--status",
            default="draft",
            help="Initial status of the new examples, or unlabeled to fill the labeling queue (leads).",
        )
        parser.add_argument("--user", default=None, help="Importing user (default: the project's creator).")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no project {options['project']}.")
        user = self._user(project, options["user"])
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            with path.open("rb") as upload:
                job = import_job_create(
                    project=project,
                    user=user,
                    upload=upload,
                    filename=path.name,
                    file_format=options["format"],
                    input_field=options["input_field"],
                    output_field=options["output_field"],
                    status=options["status"],
                    queue=False,
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        job_run(
            ImportJob, job.pk, lambda job, progress: import_run(job, self._bar(progress)), for_creator=False
        )
        upload_release(job.pk)  # the copy in storage; the file given stays where it is
        self._report(ImportJob.objects.get(pk=job.pk))

    def _user(self, project: Project, username: str | None) -> Any:
        users = get_user_model().objects
        user = users.filter(username=username).first() if username else project.created_by
        if user is None:
            raise CommandError("Name the importing user with --user.")
        return user

    def _bar(self, report: Any) -> Any:
        rows = 0

        def progress(fraction: float, **counts: int) -> None:
            nonlocal rows
            rows = counts.get("total", rows)
            filled = int(BAR_WIDTH * fraction)
            self.stderr.write(
                f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:6.1%} {rows} rows", ending=""
            )
            report(fraction, **counts)

        return progress

    def _report(self, job: ImportJob) -> None:
        self.stderr.write("")  # end the progress line
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Import {job.pk} failed: {job.error}")
        self.stdout.write(
            f"Import {job.pk} ({job.detected_format}): {job.total} rows, {job.created} created, "
            f"{job.skipped_existing} already there, {job.failed} failed."
        )
        for error in job.errors[:20]:
            self.stdout.write(f"  line {error['line']}: {error['error']}")
