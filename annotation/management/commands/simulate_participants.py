from django.core.management.base import BaseCommand, CommandError

from annotation.simulation import simulate_participants
from studies.models import Study


class Command(BaseCommand):
    help = (
        "Pilot a study with synthetic participants who go through the real assignment and "
        "submit services (marked as simulated). Never run this on a study with real people."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--participants", type=int, default=30)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--speeders", type=float, default=0.1, help="share who straight-line")

    def handle(self, *args, slug: str, participants: int, seed: int, speeders: float, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"no study with slug {slug!r}")
        if not study.is_open:
            raise CommandError(f"study {slug!r} is not recruiting")
        result = simulate_participants(study=study, n=participants, seed=seed, speeders=speeders)
        self.stdout.write(f"Simulated {result.participants} participants, {result.ratings} ratings.")
