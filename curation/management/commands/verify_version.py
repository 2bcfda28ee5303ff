import hashlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from curation.models import DatasetVersion
from curation.services.version_exports import export_hashes, stored_lines


class Command(BaseCommand):
    help = "Recompute a frozen version's export hashes and compare them with those stored at freeze."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("version_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        version = DatasetVersion.objects.select_related("project").filter(pk=options["version_id"]).first()
        if version is None:
            raise CommandError(f"No dataset version {options['version_id']}.")
        if not version.is_frozen:
            raise CommandError(f"Version {version.pk} is {version.status}, not frozen.")
        stored = {
            "all": version.sha256,
            **{k: v for k, v in version.manifest.get("sha256", {}).items() if k != "all"},
        }
        computed = export_hashes(version)
        mismatched = [part for part, digest in stored.items() if computed.get(part) != digest]
        for split in ("train", "eval"):
            lines = stored_lines(version, split)
            if lines is None:
                self.stdout.write(f"{split:<5} stored file missing (exports render from the items)")
                continue
            digest = hashlib.sha256()
            for chunk in lines:
                digest.update(chunk)
            if digest.hexdigest() != stored.get(split):
                mismatched.append(f"{split} file")
        for part in stored:
            mark = "ok" if part not in mismatched else f"MISMATCH (now {computed.get(part)})"
            self.stdout.write(f"{part:<5} {stored[part]}  {mark}")
        if mismatched:
            raise CommandError(f"Version {version.pk} does not match its sha256 ({', '.join(mismatched)}).")
        self.stdout.write(
            self.style.SUCCESS(f"Version {version.pk} ({version.project} v{version.number}) verified.")
        )
