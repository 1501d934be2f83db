"""people_list_paths: the people list API's other sorts, filters and searches, one p95 each.

people_list_api measures the list everyone opens first; this measures the paths that used to
scan the whole table at a million people: the score sorts, search by email address or name prefix,
several stages at once, and an owner's newest people. The recorded figure is the slowest path's
p95; every path's p95 and median are in params["paths"].
"""

from _common import BenchmarkError, measure_get, percentile, write_result

BENCHMARK = "people_list_paths"
TARGET_P95_MS = 50
PAGE = "/api/v1/people?limit=25"
SEARCH_TERMS = 50


def _search_terms(context) -> tuple[list[str], list[str]]:
    """Typed-in-the-box searches for random people: 'local.part@do' and the first letters of a last name."""
    from tandem.crm.models import Person

    people = Person.objects.filter(pk__in=context.random_person_ids(SEARCH_TERMS))
    rows = sorted(people.values_list("pk", "email", "last_name"))
    emails = [email.split("@")[0] + "@" + email.split("@")[1][:2] for _, email, _ in rows if email and "@" in email]
    names = [last_name[:3] for _, _, last_name in rows if len(last_name) >= 3]
    if not emails or not names:
        raise BenchmarkError("The sampled people have no email addresses or last names to search for.")
    return emails, names


def run(context) -> dict:
    from urllib.parse import quote

    emails, names = _search_terms(context)
    owner = context.owner.pk
    paths = {
        "sort_fit_score": lambda index: f"{PAGE}&sort=fit_score",
        "sort_engagement_score": lambda index: f"{PAGE}&sort=engagement_score",
        "search_email_prefix": lambda index: f"{PAGE}&q={quote(emails[index % len(emails)])}",
        "search_name_prefix": lambda index: f"{PAGE}&q={quote(names[index % len(names)])}",
        "stages_mql_sql": lambda index: f"{PAGE}&stage=mql&stage=sql",
        "owner_newest": lambda index: f"{PAGE}&owner={owner}&sort=created",
    }
    figures = {}
    for name, url_for in paths.items():
        timings = measure_get(context.client, url_for, count=context.requests, warmup=context.warmup)
        figures[name] = {
            "url": url_for(0),
            "p95_ms": round(percentile(timings, 95), 2),
            "median_ms": round(percentile(timings, 50), 2),
        }
        print(f"  {name}: p95 {figures[name]['p95_ms']} ms, median {figures[name]['median_ms']} ms")
    slowest = max(figures, key=lambda name: figures[name]["p95_ms"])
    return write_result(
        benchmark=BENCHMARK,
        metric=f"p95 of the slowest path ({slowest})",
        value=figures[slowest]["p95_ms"],
        unit="ms",
        target=TARGET_P95_MS,
        params={**context.params, "paths": figures},
        database=context.database,
    )
