from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from curation.services.demo import demo_admin_ensure, demo_project_ensure, run_jobs_here, token_command


class Command(BaseCommand):
    help = "Create the first user and the banking77 sample project (once), and print how to log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default=None, help="Default: a random one, kept in FINCH_HOME.")

    def handle(self, *args: Any, **options: Any) -> None:
        run_jobs_here()
        login = demo_admin_ensure(username=options["username"], password=options["password"])
        user = get_user_model().objects.get(username=login.username)
        project, created = demo_project_ensure(user=user)
        if created:
            self.stdout.write(f"Created the sample project {project.name!r} (id {project.pk}).")
        self.stdout.write(
            self.style.SUCCESS(
                "\nFinch is starting at http://127.0.0.1:8000/\n"
                f"  log in as: {login.username}\n"
                f"  password:  {login.password}\n"
                "  API docs:  http://127.0.0.1:8000/api/docs/\n"
                f"  API token: {token_command(login.username)}\n"
            )
        )
