import sys

from django.core.management.base import BaseCommand, CommandError

from studies.labelling import LABELLERS, get_labeller
from studies.models import Study
from studies.progress import Progress
from studies.refusal_labelling import responses_label


class Command(BaseCommand):
    help = (
        "Label every response of a study with an automatic refusal labeller. Human labels and "
        "responses this labeller already labelled are left alone unless --overwrite."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--study", required=True, help="Study slug.")
        parser.add_argument("--classifier", choices=sorted(LABELLERS), default="string_match")
        parser.add_argument("--overwrite", action="store_true", help="Relabel human labels too.")
        parser.add_argument("--checker", help="orbench_keyword: which OR-Bench checker (gpt4 …).")
        parser.add_argument("--judge-base-url", help="judge: OpenAI-compatible server URL.")
        parser.add_argument("--judge-model", default="gpt-4")
        parser.add_argument("--judge-prompt", choices=["xstest", "orbench"], default="xstest")
        parser.add_argument("--judge-api-key-env", default="JUDGE_API_KEY")
        parser.add_argument("--judge-timeout", type=float, default=60.0)
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--progress", action="store_true", help="Progress bar even off a TTY.")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study {options['study']!r}")
        name = options["classifier"]
        kwargs: dict[str, object] = {}
        if name == "judge":
            if not options["judge_base_url"]:
                raise CommandError("--classifier judge needs --judge-base-url")
            kwargs = {
                "base_url": options["judge_base_url"],
                "model": options["judge_model"],
                "prompt": options["judge_prompt"],
                "api_key_env": options["judge_api_key_env"],
                "timeout": options["judge_timeout"],
            }
        elif name == "orbench_keyword" and options["checker"]:
            kwargs = {"checker": options["checker"]}
        try:
            labeller = get_labeller(name, **kwargs)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        enabled = True if options["progress"] else None
        with Progress(label="labelling", stream=sys.stderr, enabled=enabled) as progress:
            try:
                result = responses_label(
                    study=study,
                    labeller=labeller,
                    overwrite=options["overwrite"],
                    batch_size=options["batch_size"],
                    progress=progress,
                )
            finally:
                getattr(labeller, "close", lambda: None)()

        counts = ", ".join(f"{label} {n}" for label, n in sorted(result.labels.items())) or "none"
        self.stdout.write(f"Labelled {result.labelled} responses with {name}: {counts}.")
        self.stdout.write(
            f"Skipped {result.skipped_human} human labels (use --overwrite to relabel them) and "
            f"{result.skipped_done} responses already labelled by {name}."
        )
        if result.malformed:
            self.stdout.write(
                f"{result.malformed} judge answers named no class: label left empty, the answer "
                "is in collection['judge_raw']."
            )
        if result.failed:
            detail = "\n".join(result.failures)
            raise CommandError(f"{result.failed} responses could not be labelled:\n{detail}")
