"""`tandem predict`: train the predictive lead score, rescore people, print the model card, roll back."""

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tandem.audit.actors import Actor
from tandem.crm.models import Person
from tandem.lib.tabular_output import FORMATS, write_rows
from tandem.predict import selectors, services
from tandem.predict.models import PredictiveModel


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _card_row(model: PredictiveModel) -> dict:
    return {
        "version": model.number,
        "kind": model.kind,
        "active": model.is_active,
        "trained_at": model.trained_at.isoformat(),
        "trained_by": model.trained_by_label,
        "positives": model.positives,
        "negatives": model.negatives,
        "training_size": model.positives + model.negatives,
        "cv_folds": model.cv_folds,
        "cv_rows": model.card.get("cv_rows"),
        "cv_auc": None if model.cv_auc is None else round(model.cv_auc, 4),
        "fold_aucs": [round(value, 4) for value in model.card.get("fold_aucs", [])],
        "features_used": [item["name"] for item in model.card.get("features_used", [])],
        "features_excluded": model.card.get("features_excluded", []),
        "fallback_reason": model.fallback_reason,
        "training_seconds": round(model.training_seconds, 2),
    }


class Command(BaseCommand):
    help = "Train the predictive lead score (train --cv K), rescore people (score), print the model card (card)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        train = actions.add_parser("train", help="Train a new model version on the decided people and activate it.")
        train.add_argument("--cv", type=int, help="Cross-validation folds (default: the workspace setting, 5).")
        train.add_argument(
            "--exclude", help="Comma-separated fields or patterns to leave out (default: the workspace's list)."
        )
        train.add_argument("--positive-stages", help="Comma-separated stages that count as converted.")
        train.add_argument("--negative-stages", help="Comma-separated stages that count as not converted.")
        train.add_argument(
            "--open-negative-after-days",
            type=int,
            help="Count people still open this many days after creation as not converted.",
        )
        train.add_argument("--min-outcomes", type=int, help="Fewest people of each outcome to train on.")
        train.add_argument("--format", choices=FORMATS, default="table")
        score = actions.add_parser("score", help="Rescore everyone (or one person) under the active model.")
        score.add_argument("--person", type=int, help="Print this person's score and factors instead.")
        score.add_argument("--format", choices=FORMATS, default="table")
        card = actions.add_parser("card", help="Print the active model's card (or a version's).")
        card.add_argument("--version", type=int)
        card.add_argument("--format", choices=FORMATS, default="table")
        rollback = actions.add_parser("rollback", help="Make an earlier trained version active again.")
        rollback.add_argument("--to", type=int, required=True, help="The version number.")

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    def _print(self, row: dict, output_format: str) -> None:
        if output_format == "json":
            sys.stdout.write(json.dumps(row, indent=2, default=str) + "\n")
        else:
            plain = {key: json.dumps(value) if isinstance(value, list | dict) else value for key, value in row.items()}
            write_rows(sys.stdout, [plain], list(plain), output_format)

    def _train(self, options) -> None:
        run_options = services.TrainingOptions(
            folds=options["cv"],
            excluded_fields=_names(options["exclude"]),
            positive_stages=_names(options["positive_stages"]),
            negative_stages=_names(options["negative_stages"]),
            open_negative_after_days=options["open_negative_after_days"],
            min_outcomes_per_class=options["min_outcomes"],
        )
        try:
            model = services.predict_model_train(by=Actor.system("tandem predict train"), options=run_options)
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"--{k.replace('_', '-')}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        self._print(_card_row(model), options["format"])

    def _score(self, options) -> None:
        if options["person"] is not None:
            if not Person.objects.filter(pk=options["person"]).exists():
                raise CommandError(f"--person: there is no person with id {options['person']}.")
            prediction = selectors.person_prediction(person_id=options["person"])
            if prediction is None:
                raise CommandError(f"--person: person {options['person']} has no predictive score yet.")
            self._print(
                {
                    "person": options["person"],
                    "score": prediction.score,
                    "probability": round(prediction.probability, 4),
                    "model": prediction.model.number,
                    "factors_up": prediction.factors_up,
                    "factors_down": prediction.factors_down,
                },
                options["format"],
            )
            return
        model = selectors.active_model()
        if model is None:
            raise CommandError("No model has been trained yet: run `tandem predict train` first.")
        scored = services.predict_scores_refresh(model=model)
        self._print({"model": model.number, "kind": model.kind, "people_scored": scored}, options["format"])

    def _card(self, options) -> None:
        if options["version"] is not None:
            model = PredictiveModel.objects.filter(number=options["version"]).first()
            if model is None:
                raise CommandError(f"--version: there is no model v{options['version']}.")
        else:
            model = selectors.active_model()
            if model is None:
                raise CommandError("No model has been trained yet: run `tandem predict train` first.")
        self._print(_card_row(model), options["format"])

    def _rollback(self, options) -> None:
        model = PredictiveModel.objects.filter(number=options["to"]).first()
        if model is None:
            raise CommandError(f"--to: there is no model v{options['to']}.")
        try:
            services.predict_model_rollback(by=Actor.system("tandem predict rollback"), model=model)
        except ValidationError as error:
            raise CommandError(f"--to: {' '.join(error.message_dict['model'])}") from error
        self.stdout.write(f"Model v{model.number} is active again.\n")
