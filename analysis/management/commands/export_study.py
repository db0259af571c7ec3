from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.dataset import export_study
from studies.models import Study


class Command(BaseCommand):
    help = "Write ratings.csv, comparisons.csv, responses.csv, participants.csv and codebook.json."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--out", required=True, type=Path, help="directory to write into")

    def handle(self, *args, slug: str, out: Path, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"no study with slug {slug!r}")
        counts = export_study(study, out)
        for name, n in counts.items():
            self.stdout.write(f"{out / name}: {n} rows")
        self.stdout.write(f"{out / 'codebook.json'}")
