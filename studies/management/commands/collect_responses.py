import os
import sys

from django.core.management.base import BaseCommand, CommandError

from studies.collector import CollectorConfig, public_endpoint, responses_collect
from studies.models import Study
from studies.progress import Progress


class Command(BaseCommand):
    help = (
        "Fill a study's missing responses from an OpenAI-compatible /v1/chat/completions "
        "endpoint. Resumable: a second run only asks for prompts still without a response."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--study", required=True, help="Study slug.")
        parser.add_argument("--model", required=True, help="Model name sent to the server.")
        parser.add_argument("--base-url", required=True, help="Server root, with or without /v1.")
        parser.add_argument("--condition", default="", help="Variant label, e.g. 'guard-prompt'.")
        parser.add_argument("--system-prompt")
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--api-key-env", default="OPENAI_API_KEY")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds per request.")
        parser.add_argument("--max-retries", type=int, default=5)
        parser.add_argument("--backoff-base", type=float, default=1.0)
        parser.add_argument("--backoff-max", type=float, default=60.0)
        parser.add_argument("--progress", action="store_true", help="Progress bar even off a TTY.")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study {options['study']!r}")
        if options["concurrency"] < 1 or options["max_retries"] < 0:
            raise CommandError("--concurrency must be at least 1, --max-retries at least 0")
        config = CollectorConfig(
            base_url=options["base_url"],
            model=options["model"],
            condition=options["condition"],
            system_prompt=options["system_prompt"],
            temperature=options["temperature"],
            max_tokens=options["max_tokens"],
            api_key_env=options["api_key_env"],
            timeout=options["timeout"],
            max_retries=options["max_retries"],
            concurrency=options["concurrency"],
            backoff_base=options["backoff_base"],
            backoff_max=options["backoff_max"],
        )
        endpoint = public_endpoint(config.endpoint)
        if not os.environ.get(config.api_key_env):
            self.stderr.write(f"${config.api_key_env} is not set: no Authorization header.")
        enabled = True if options["progress"] else None
        with Progress(label="collecting", stream=sys.stderr, enabled=enabled) as progress:
            try:
                result = responses_collect(study=study, config=config, progress=progress)
            except KeyboardInterrupt:
                # the collector has already written every answer that arrived
                raise CommandError(
                    "Interrupted: every answer received so far is saved; run the command "
                    "again to collect the rest.",
                    returncode=130,
                ) from None
        self.stdout.write(
            f"{endpoint}: asked {result.requested} prompts, saved {result.saved} responses "
            f"from {config.model}{' [' + config.condition + ']' if config.condition else ''}."
        )
        if result.failed:
            lines = "\n".join(f"  {line}" for line in result.summary_lines())
            raise CommandError(
                f"{result.failed} prompts got no response:\n{lines}\n"
                "Run the command again to retry them; saved responses are kept."
            )
