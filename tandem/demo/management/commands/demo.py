"""`tandem demo`: load a believable synthetic company into an empty database."""

import sys

from django.core.management.base import BaseCommand, CommandError

from tandem.demo.services import DemoRefusedError, demo_generate


class Command(BaseCommand):
    help = "Generate a realistic synthetic company (users, accounts, people, history, deals)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Same seed, same data (default 42).")
        parser.add_argument("--people", type=int, default=5000)
        parser.add_argument("--accounts", type=int, default=500)
        parser.add_argument("--months", type=int, default=18, help="How much history to generate.")
        parser.add_argument(
            "--touchpoints-per-person",
            type=float,
            default=10.0,
            help="Average touchpoints per person; lower it for very large loads.",
        )
        parser.add_argument(
            "--activities-per-person",
            type=float,
            default=2.0,
            help="Scales the calls, emails and meetings logged by reps (default 2).",
        )
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **options):
        for name in ("people", "accounts", "batch_size"):
            if options[name] < (1 if name == "batch_size" else 0):
                raise CommandError(f"--{name.replace('_', '-')} must be a positive number.")
        interactive = sys.stdout.isatty()

        def progress(step: str, done: int, total: int) -> None:
            line = f"Generating {step}: {done:,}/{total:,}"
            if interactive:
                self.stdout.write(f"\r{line}", ending="")
                if done >= total:
                    self.stdout.write("")
            elif done >= total or done % (options["batch_size"] * 20) == 0:
                self.stdout.write(line)
            self.stdout.flush()

        try:
            summary = demo_generate(
                seed=options["seed"],
                people=options["people"],
                accounts=options["accounts"],
                months=options["months"],
                touchpoints_per_person=options["touchpoints_per_person"],
                activities_per_person=options["activities_per_person"],
                batch_size=options["batch_size"],
                progress=progress,
            )
        except DemoRefusedError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded in {summary['seconds']} s (seed {summary['seed']})."))
        for key in (
            "users",
            "accounts",
            "people",
            "stage_changes",
            "campaigns",
            "campaign_members",
            "touchpoints",
            "activities",
            "opportunities",
            "opportunities_won",
            "opportunities_lost",
            "opportunity_stage_changes",
        ):
            self.stdout.write(f"  {key.replace('_', ' '):<28}{summary[key]:>12,}")
        self.stdout.write(
            "  people by stage: " + ", ".join(f"{stage} {count:,}" for stage, count in summary["stages"].items())
        )
        self.stdout.write(f"\nSign in with any of these (password: {summary['password']}):")
        for email, role in summary["users_list"]:
            self.stdout.write(f"  {email:<45}{role}")
