import sys

from django.core.management.base import BaseCommand, CommandError

from studies.importers import FORMATS, ON_DUPLICATE, ImportFailed, PathSource, responses_import
from studies.importers.coconot import SETS as COCONOT_SETS
from studies.importers.orbench import SETS as ORBENCH_SETS
from studies.progress import Progress


class Command(BaseCommand):
    help = (
        "Import a benchmark file (prompts, and responses with their labels where the file has "
        "them) into a study, all or nothing: every bad line is reported as PATH:LINE: reason."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument(
            "--study", required=True, help="Study slug (created as a draft if new)."
        )
        parser.add_argument("--format", choices=FORMATS, help="Default: guessed from the file.")
        parser.add_argument("--on-duplicate", choices=ON_DUPLICATE, default="skip")
        parser.add_argument("--orbench-set", choices=sorted(ORBENCH_SETS))
        parser.add_argument("--coconot-set", choices=sorted(COCONOT_SETS))
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--progress", action="store_true", help="Progress bar even off a TTY.")

    def handle(self, *args, **options) -> None:
        def progress(total=None, label=""):
            enabled = True if options["progress"] else None
            return Progress(total, label=label, stream=sys.stderr, enabled=enabled)

        try:
            result = responses_import(
                source=PathSource(options["path"]),
                study_slug=options["study"],
                format=options["format"],
                on_duplicate=options["on_duplicate"],
                options={
                    "orbench_set": options["orbench_set"],
                    "coconot_set": options["coconot_set"],
                },
                batch_size=options["batch_size"],
                progress_factory=progress,
            )
        except ImportFailed as exc:
            n = len(exc.errors)
            raise CommandError(f"{exc}\n{n} bad line(s); nothing was imported.") from exc
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported {options['path']}: {result.summary()}")
