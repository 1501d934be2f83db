"""Write one batch of parsed rows of one kind: resolve references, deduplicate, upsert, record history.

Rules every writer follows (docs/import-export.md states them for users):
- A row is identified by its key fields (people: external id, then email; accounts: external id,
  then domain, then name; opportunities: external id, then account and name; touchpoints: event id).
- Rows of one file that identify the same record are merged in file order: a later row's
  non-empty cells overwrite earlier ones. Each merged row counts as a duplicate.
- An empty cell never clears a stored value.
- A stage only moves forward unless the mapping allows backward moves; each move is a
  StageChange by the import actor, citing the run and the line.
- References that cannot be resolved (unknown owner, account, person) reject the row, naming
  the value; they are never invented. People files may create accounts from company names,
  counted in the summary.
"""

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from decimal import Decimal
from operator import itemgetter

import orjson
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from tandem.audit.actors import ActorType
from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign, Channel
from tandem.crm.defaults import FREE_MAIL_DOMAINS
from tandem.crm.models import (
    Account,
    AccountDomain,
    AccountMatch,
    LifecycleStage,
    MatchMethod,
    Opportunity,
    OpportunityStage,
    OpportunityStageChange,
    Person,
    StageChange,
)
from tandem.engagement.models import Touchpoint, TouchpointKey
from tandem.imports.fields import KEYS
from tandem.imports.fingerprints import RowFingerprints, key_plan
from tandem.imports.mapping import Plan
from tandem.imports.services import BatchResult, ParsedRow, parse_records
from tandem.lib.bulk_insert import BulkInserter, allocate_ids
from tandem.scoring.models import PersonScore

# The updates that link people to accounts created by the same batch (they keep their fingerprint fields).
LINKED_ACCOUNT = ("account_id", "linked")


def writer_for(plan: Plan, *, run, actor):
    writers = {
        "people": PersonWriter,
        "accounts": AccountWriter,
        "opportunities": OpportunityWriter,
        "touchpoints": TouchpointWriter,
        "users": UserWriter,
    }
    return writers[plan.kind](plan, run=run, actor=actor)


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class UserDirectory:
    """Users by email and by name, to resolve owner cells."""

    def __init__(self):
        from tandem.users.models import User

        self.by_email: dict[str, int] = {}
        names: dict[str, list[int]] = defaultdict(list)
        for user_id, email, full_name in User.objects.values_list("id", "email", "full_name"):
            self.by_email[email.lower()] = user_id
            if full_name:
                names[full_name.strip().casefold()].append(user_id)
        self.by_name = {name: ids[0] for name, ids in names.items() if len(ids) == 1}
        self.ambiguous = {name for name, ids in names.items() if len(ids) > 1}

    def resolve(self, text: str) -> tuple[int | None, str]:
        """(user id, '') or (None, why not)."""
        key = text.strip().casefold()
        if "@" in key:
            user_id = self.by_email.get(key)
            return (user_id, "") if user_id else (None, f"no user has the email '{text}'")
        if key in self.ambiguous:
            return None, f"more than one user is named '{text}'; use the email instead"
        user_id = self.by_name.get(key)
        return (user_id, "") if user_id else (None, f"no user is called '{text}' (owners are matched, not created)")


class AccountDirectory:
    """Accounts by external id, domain and name, kept current as the import creates accounts."""

    def __init__(self):
        self.by_external_id: dict[str, int] = {}
        self.by_domain: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.ambiguous_names: set[str] = set()
        for account_id, external_id, name, domain in Account.objects.values_list("id", "external_id", "name", "domain"):
            self.add(account_id, external_id=external_id, name=name, domain=domain)
        for account_id, domain in AccountDomain.objects.values_list("account_id", "domain"):
            self.by_domain.setdefault(domain, account_id)

    def add(self, account_id: int, *, external_id=None, name="", domain=""):
        if external_id:
            self.by_external_id[external_id] = account_id
        if domain:
            self.by_domain.setdefault(domain, account_id)
        key = (name or "").strip().casefold()
        if key:
            if key in self.by_name and self.by_name[key] != account_id:
                self.ambiguous_names.add(key)
            else:
                self.by_name[key] = account_id

    def for_email(self, email: str) -> tuple[int | None, str]:
        """The account an email's domain (or a parent domain) belongs to; free mail never matches."""
        domain = email.rsplit("@", 1)[-1]
        if domain in FREE_MAIL_DOMAINS:
            return None, ""
        parts = domain.split(".")
        for start in range(len(parts) - 1):
            candidate = ".".join(parts[start:])
            account_id = self.by_domain.get(candidate)
            if account_id:
                return account_id, candidate
        return None, ""


# Values per statement when looking rows up by a list of keys (SQLite takes at most 32,766 parameters).
LOOKUP_CHUNK = 10_000


def _one_of(column_sql: str, keys: list) -> tuple[str, list]:
    """A condition that `column_sql` is one of `keys` (texts), and its parameters.

    PostgreSQL gets the keys as one JSON text: an array parameter would be quoted key by key on
    the client and, inlined, lead the planner to scan the whole table rather than probe the index.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        return f"{column_sql} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))", [orjson.dumps(keys).decode()]
    return f"{column_sql} IN ({', '.join(['%s'] * len(keys))})", list(keys)


def _ids_where(model, column_sql: str, keys: list, *, table: str | None = None) -> set[int]:
    """Ids of the rows whose `column_sql` (a column, or an expression of columns) is one of `keys`."""
    from django.db import connection

    if not keys:
        return set()
    table = connection.ops.quote_name(table or model._meta.db_table)
    found = set()
    with connection.cursor() as cursor:
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            condition, params = _one_of(column_sql, chunk)
            cursor.execute(f"SELECT id FROM {table} WHERE {condition}", params)  # noqa: S608
            found.update(row[0] for row in cursor.fetchall())
    return found


class BaseWriter:
    """What every kind shares: the run, the actor, the bulk writer and the keys seen in the file."""

    kind = ""

    def __init__(self, plan: Plan, *, run, actor):
        self.plan = plan
        self.run = run
        self.actor = actor
        self.mapping = plan.mapping
        self.inserter = BulkInserter()
        self.seen: set[tuple] = set()
        self.repeated: set[tuple] = set()  # the keys of the current batch seen before it (see merge_batch)
        self.actor_user_id = actor.user.pk if actor.user is not None and getattr(actor.user, "pk", None) else None
        self.label = actor.label

    def tokens(self, row: ParsedRow) -> list[tuple]:
        raise NotImplementedError

    def read_batch(self, records: list, reader, *, final: bool = False) -> tuple[list[ParsedRow], Counter]:
        """The batch's records to write, parsed, and the count of rows settled without being read."""
        return parse_records(records, reader), Counter()

    def remember_batch(self, records: list, reader) -> None:
        """Note records committed before a restart (see `remember`)."""
        for row in parse_records(records, reader):
            self.remember(row)

    def rejected(self, row: ParsedRow, result: BatchResult) -> None:
        result.rejected.append(row)

    def mixed_keys(self, target: ParsedRow, key: tuple) -> None:
        """Rows with different first keys were merged into one record (e.g. an external id and an email)."""

    def is_seen(self, tokens: list[tuple]) -> bool:
        """Whether an earlier valid row of the file had one of these keys."""
        return any(token in self.seen for token in tokens)

    def see(self, tokens: list[tuple]) -> None:
        self.seen.update(tokens)

    def remember(self, row: ParsedRow) -> None:
        """Note a row committed before a restart, so duplicates of it are still recognised."""
        if not row.errors:
            self.see(self.tokens(row))

    def merge_batch(self, batch: list[ParsedRow], result: BatchResult) -> list[ParsedRow]:
        """Valid rows with duplicates merged in file order; rejected rows go to the result."""
        pending: list[ParsedRow] = []
        by_token: dict[tuple, ParsedRow] = {}
        self.repeated = set()
        for row in batch:
            if row.raw or row.values:  # a record that could not be split into columns has neither
                self.check(row)
            if row.errors:
                self.rejected(row, result)
                continue
            tokens = self.tokens(row)
            if not tokens:
                self.rejected(row, result)
                continue
            targets = []
            for token in tokens:
                found = by_token.get(token)
                if found is not None and all(found is not target for target in targets):
                    targets.append(found)
            if len(targets) > 1:
                # One key of the row is an earlier row's, another key a different earlier row's: merging would
                # make one record of two, so neither is chosen.
                lines = " and ".join(str(target.line) for target in targets)
                row.error("row", f"its keys belong to two different records of this file (lines {lines})")
                self.rejected(row, result)
                continue
            if self.is_seen(tokens):
                result.duplicates += 1
                row.is_duplicate = True
                self.repeated.update(tokens)
            self.see(tokens)
            target = targets[0] if targets else None
            if target is None:
                pending.append(row)
                target = row
                row.key = tokens[0]
            else:
                target.values.update(row.values)
                target.custom.update(row.custom)
                if tokens[0] != target.key:
                    self.mixed_keys(target, tokens[0])
            for token in tokens:
                by_token[token] = target
        return pending

    def check(self, row: ParsedRow) -> None:
        """Kind-specific validation of one row (required fields, references); adds errors."""

    def audit_updates(self, model_label: str, changes: list[tuple[int, int, dict, dict]]) -> None:
        if not changes:
            return
        now = timezone.now()
        rows = [
            {
                "at": now,
                "actor_id": self.actor_user_id,
                "actor_label": self.label[:200],
                "action": "update",
                "entity_type": model_label,
                "entity_id": entity_id,
                "summary": f"Updated by import #{self.run.pk}, line {line}",
                "before": before,
                "after": after,
            }
            for entity_id, line, before, after in changes
        ]
        self.inserter.write(AuditEntry, rows)

    def evidence(self, line: int) -> dict:
        return {"import_run": self.run.pk, "line": line, "file": self.run.original_filename}


def _count_outcome(result: BatchResult, row: ParsedRow, outcome: str) -> None:
    """Count a first occurrence as created/updated/unchanged; a duplicate is already counted."""
    if getattr(row, "is_duplicate", False):
        return
    setattr(result, outcome, getattr(result, outcome) + 1)


# A run reads every stored fingerprint at once when the people imported before number at most this many
# times its file's rows (and at most PREFETCH_MAX: some 200 bytes each stay in memory until their key is met).
PREFETCH_SHARE = 4
PREFETCH_MAX = 2_000_000
PREFETCH_CHUNK = 10_000

# Scores are kept in tandem.scoring's PersonScore, read here through the person's `scores` relation.
SCORE_ATTRS = {"fit_score": "scores__fit_score", "engagement_score": "scores__engagement_score"}
NO_SCORES = dict.fromkeys(SCORE_ATTRS, 0)


class PersonWriter(BaseWriter):
    kind = "people"
    FIELD_ATTRS = {
        "email": "email",
        "external_id": "external_id",
        "first_name": "first_name",
        "last_name": "last_name",
        "title": "title",
        "phone": "phone",
        "lead_status": "lead_status_id",
        "owner": "owner_id",
        "source": "source",
        "utm_source": "utm_source",
        "utm_medium": "utm_medium",
        "utm_campaign": "utm_campaign",
        "utm_term": "utm_term",
        "utm_content": "utm_content",
        "predictive_score": "predictive_score",
        "buying_role": "buying_role",
        "consent_email": "consent_email",
        "consent_tracking": "consent_tracking",
        "created_at": "created_at",
    }

    def __init__(self, plan, *, run, actor):
        super().__init__(plan, run=run, actor=actor)
        self.users = UserDirectory() if "owner" in plan.fields else None
        self.accounts = AccountDirectory()
        self.stages = {stage.key: stage for stage in LifecycleStage.objects.all()}
        from tandem.imports.services import RowReader

        self.fingerprints = RowFingerprints(
            plan,
            key_reader=RowReader(key_plan(plan, KEYS["people"]), remember_cells=False),
            tokens=self.tokens_for,
            stored=self._stored_fingerprints,
        )
        # First keys of records that get no fingerprint: a row of theirs was rejected or noted.
        self.tainted: set[tuple] = set()
        self.any_stored: bool | None = None
        self.prefetched: dict | bool | None = None  # stored fingerprints read at once (see _prefetch_fingerprints)
        # A row's values become a person's columns: these fields are not columns, these are renamed.
        fields = plan.fields | {"email_opt_out"}
        self._not_columns = tuple(name for name in fields if name not in self.FIELD_ATTRS)
        self._renamed = tuple(
            (name, attname) for name, attname in self.FIELD_ATTRS.items() if name != attname and name in fields
        )
        from tandem.imports.bulkload import people_inserter

        # A large first import stages its new people and loads them at the end (tandem.imports.bulkload).
        self.inserter = people_inserter(run)

    def read_batch(self, records, reader, *, final=False):
        if self.any_stored is None:
            self.any_stored = self._any_stored()
        if not self.any_stored:
            # A first import: no row can be settled unread, so every row is read once, in full.
            rows = parse_records(records, reader)
            self.fingerprints.advance_read(records, rows)
            return rows, Counter()
        to_read, settled = self.fingerprints.sort(records, final=final, see=self.see)
        return parse_records(to_read, reader), settled

    @staticmethod
    def _any_stored() -> bool:
        """Whether any person was imported with a fingerprint (else every row of this run is read)."""
        return Person.objects.filter(import_row_count__isnull=False).exists()

    def remember_batch(self, records, reader):
        for row in parse_records(self.fingerprints.replay(records), reader):
            if not row.errors:
                self.check(row)
            tokens = self.tokens(row)
            if row.errors:
                if tokens:
                    self.tainted.add(tokens[0])
            else:
                self.see(tokens)

    def is_seen(self, tokens):
        # A first key's "seen" lives on its state in the fingerprints (one entry per key, not two).
        keys = self.fingerprints.keys
        for token in tokens:
            state = keys.get(token)
            if (state is not None and state.accepted) or token in self.seen:
                return True
        return False

    def see(self, tokens):
        state = self.fingerprints.keys.get(tokens[0])
        if state is None:
            self.seen.add(tokens[0])
        else:
            state.accepted = True
        self.seen.update(tokens[1:])

    def rejected(self, row, result):
        result.rejected.append(row)
        tokens = self.tokens(row)
        if tokens:
            self.tainted.add(tokens[0])

    def mixed_keys(self, target, key):
        self.tainted.update((target.key, key))

    def _fingerprint(self, row) -> tuple[int | None, int | None]:
        """(fingerprint, row count) to store on the record this row became."""
        state = self.fingerprints.fingerprint(row.key) if row.key is not None else None
        if state is None:
            return None, None
        fingerprint, count = state
        return (None if row.key in self.tainted else fingerprint), count

    def _stored_fingerprints(self, keys: list[tuple]) -> dict[tuple, tuple[int | None, int]]:
        """{key: (fingerprint if the record is unchanged since it was written, row count)} of stored people."""
        from django.db import connection

        found = {}
        table = connection.ops.quote_name(Person._meta.db_table)
        if self.any_stored is None:
            # No person imported with a fingerprint yet (a first import): nothing to look up, batch after batch.
            # The run's own people are known by their keys already; ones another run adds meanwhile are
            # only compared the ordinary way.
            self.any_stored = self._any_stored()
        if not self.any_stored:
            return found
        if self.prefetched is None:
            self.prefetched = self._prefetch_fingerprints()
        if self.prefetched is not False:
            # Each key is asked for once per run (the run keeps its state after): hand its entry over.
            take = self.prefetched.pop
            return {key: entry for key in keys if (entry := take(key, None)) is not None}
        columns = "import_fingerprint, import_row_count, import_fingerprint_at = updated_at"
        for kind, column in (("x", "external_id"), ("e", "LOWER(email)")):
            values = [value for token_kind, value in keys if token_kind == kind]
            if not values:
                continue
            condition, params = _one_of(column, values)
            sql = f"SELECT {column}, {columns} FROM {table} WHERE import_row_count IS NOT NULL AND {condition}"  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                for value, fingerprint, count, is_current in cursor.fetchall():
                    found[(kind, value)] = (fingerprint if is_current else None, count)
        return found

    def _prefetch_fingerprints(self) -> dict | bool:
        """Every stored fingerprint at once, {key: (fingerprint or None, row count)}, when the run's file is
        large next to the people imported before; else False (each batch looks its keys up).

        One pass over the table costs about what looking up a seventh of its rows by key does. A record
        changed after this read but before its rows are reached is taken as it was: rows that would write
        what it held then are not written over the newer change, as when the change comes just after.
        """
        from django.db import connection

        from tandem.imports.bulkload import estimated_rows
        from tandem.imports.services import _source_for

        table = connection.ops.quote_name(Person._meta.db_table)
        stored = Person.objects.filter(import_row_count__isnull=False)
        count = stored.count()
        if count > PREFETCH_MAX or count > PREFETCH_SHARE * estimated_rows(_source_for(self.run)):
            return False
        found = {}
        sql = (
            "SELECT external_id, LOWER(email), import_fingerprint, import_row_count, "  # noqa: S608
            f"import_fingerprint_at = updated_at FROM {table} WHERE import_row_count IS NOT NULL"
        )
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql)
            while rows := cursor.fetchmany(PREFETCH_CHUNK):
                for external_id, email, fingerprint, row_count, is_current in rows:
                    entry = (fingerprint if is_current else None, row_count)
                    if external_id:
                        found[("x", external_id)] = entry
                    if email:
                        found[("e", email)] = entry
        return found

    def tokens(self, row):
        return self.tokens_for(row.values)

    @staticmethod
    def tokens_for(values: dict) -> list[tuple]:
        tokens = []
        if "external_id" in values:
            tokens.append(("x", values["external_id"]))
        if "email" in values:
            tokens.append(("e", values["email"]))
        return tokens

    def check(self, row):
        values = row.values
        if "email" not in values and "external_id" not in values and not row.errors:
            row.error("Email", "a person needs an email or an external id")
        for small in ("fit_score", "engagement_score", "predictive_score"):
            if small in values and not -32768 <= values[small] <= 32767:
                row.error(small, f"{values[small]} is out of range (-32768 to 32767)")
        if "owner" in values:
            owner_id, problem = self.users.resolve(values["owner"])
            if problem:
                row.error("Owner", problem)
            values["owner"] = owner_id
        if "email_opt_out" in values:
            values["consent_email"] = not values.pop("email_opt_out")
        if "account_external_id" in values and values["account_external_id"] not in self.accounts.by_external_id:
            row.error("Account external id", f"no account has the external id '{values['account_external_id']}'")
        name_key = values.get("account_name", "").casefold()
        if name_key in self.accounts.ambiguous_names and "account_domain" not in values:
            row.error("Account name", f"more than one account is named '{values['account_name']}'; give the domain")

    def _account_for(self, values: dict) -> tuple[int | None, str, str]:
        """(account id, method, matched domain) for a row, or (None, 'create', '') for a new company."""
        accounts = self.accounts
        if "account_external_id" in values:
            return accounts.by_external_id[values["account_external_id"]], MatchMethod.IMPORT, ""
        if "account_domain" in values:
            account_id = accounts.by_domain.get(values["account_domain"])
            if account_id:
                return account_id, MatchMethod.IMPORT, values["account_domain"]
        if "account_name" in values:
            account_id = accounts.by_name.get(values["account_name"].casefold())
            if account_id:
                return account_id, MatchMethod.IMPORT, ""
        if "account_domain" in values or "account_name" in values:
            return None, "create", ""
        if values.get("email"):
            account_id, domain = accounts.for_email(values["email"])
            if account_id:
                return account_id, MatchMethod.EMAIL_DOMAIN, domain
        return None, "", ""

    def _existing(self, rows: list[ParsedRow]) -> tuple[dict, dict]:
        columns = [
            "id",
            "external_id",
            "email",
            "lifecycle_stage_id",
            "account_id",
            "custom_fields",
            "import_fingerprint",
            "import_row_count",
            *{attname for name, attname in self.FIELD_ATTRS.items() if name in self.plan.fields},
            *{SCORE_ATTRS[name] for name in SCORE_ATTRS if name in self.plan.fields},
        ]
        if "email_opt_out" in self.plan.fields:
            columns.append("consent_email")
        if "lifecycle_stage" in self.plan.fields:
            columns.append("lead_status_id")
        columns = list(dict.fromkeys(columns))
        by_external_id, by_email = {}, {}
        # The ids first, in plain SQL (most rows of a large file match nobody), then the people found; a bulk
        # load also looks in its staging table, where the people of earlier batches are (tandem.imports.bulkload).
        # Those came from rows of this run, whose keys the writer saw: only keys seen before this batch can
        # find one of them.
        external_ids = {row.values["external_id"] for row in rows if "external_id" in row.values}
        emails = {row.values["email"] for row in rows if "email" in row.values}
        ids = set()
        for table in self.inserter.tables_of(Person):
            if table == Person._meta.db_table:
                ids |= _ids_where(Person, "external_id", list(external_ids), table=table)
                ids |= _ids_where(Person, "LOWER(email)", list(emails), table=table)
                continue
            seen = self.repeated
            ids |= _ids_where(Person, "external_id", [key for key in external_ids if ("x", key) in seen], table=table)
            ids |= _ids_where(Person, "LOWER(email)", [key for key in emails if ("e", key) in seen], table=table)
        if not ids:
            return by_external_id, by_email
        for found in self.inserter.read(Person.objects.filter(id__in=sorted(ids)).values(*columns)):
            if found["external_id"] in external_ids:
                by_external_id[found["external_id"]] = found
            if found["email"] and found["email"].lower() in emails:
                by_email[found["email"].lower()] = found
        return by_external_id, by_email

    def write(self, batch):
        result = BatchResult()
        rows = self.merge_batch(batch, result)
        if not rows:
            return result
        now = timezone.now()
        by_external_id, by_email = self._existing(rows)
        inserts, updates, stage_changes, matches, audits = [], defaultdict(list), [], [], []
        insert_scores: list[dict] = []  # imported scores of the people to insert, in the order of `inserts`
        score_updates: dict[int, dict] = {}  # person id -> the scores that change
        fingerprinted: list[tuple[int | None, int, int]] = []
        new_accounts: dict[str, dict] = {}
        account_requests: list[tuple[ParsedRow, dict]] = []
        for row in rows:
            values = row.values
            current = None
            if "external_id" in values:
                current = by_external_id.get(values["external_id"])
            email_owner = by_email.get(values["email"]) if "email" in values else None
            if current is None:
                current = email_owner
                if current is not None and current["external_id"] and "external_id" in values:
                    row.error(
                        "Email",
                        f"'{values['email']}' belongs to the person with external id '{current['external_id']}'",
                    )
            elif email_owner is not None and email_owner["id"] != current["id"]:
                row.error("Email", f"'{values['email']}' belongs to another person (#{email_owner['id']})")
            if row.errors:
                self.rejected(row, result)
                continue
            account_id, method, domain = self._account_for(values)
            if method == "create":
                domain_key = values.get("account_domain", "")
                name_key = values.get("account_name", "").casefold()
                account = new_accounts.get("d:" + domain_key) if domain_key else None
                account = account or (new_accounts.get("n:" + name_key) if name_key else None)
                if account is None:
                    if not self.mapping.create_accounts:
                        row.error("Account", f"no account matches '{values.get('account_name') or domain_key}'")
                        self.rejected(row, result)
                        continue
                    account = {"name": values.get("account_name") or domain_key, "domain": domain_key}
                if domain_key:
                    account["domain"] = account["domain"] or domain_key
                    new_accounts["d:" + domain_key] = account
                if name_key:
                    new_accounts.setdefault("n:" + name_key, account)
                account_requests.append((row, account))
            scores = {name: values[name] for name in SCORE_ATTRS if name in values}
            if current is None:
                self._insert(row, account_id, method, domain, now, inserts, stage_changes, matches)
                insert_scores.append(scores)
                fingerprint, count = self._fingerprint(row)
                row.person.update(import_fingerprint=fingerprint, import_fingerprint_at=now, import_row_count=count)
                _count_outcome(result, row, "created")
            else:
                changed = self._update(row, current, account_id, method, domain, now, stage_changes, matches, result)
                score_before = {name: current.get(SCORE_ATTRS[name]) or 0 for name in scores}
                if scores != score_before:
                    score_updates[current["id"]] = {
                        name: scores.get(name, current.get(SCORE_ATTRS[name]) or 0) for name in SCORE_ATTRS
                    }
                    before, after = changed or ({}, {})
                    changed = ({**before, **score_before}, {**after, **scores})
                fingerprint, count = self._fingerprint(row)
                if changed:
                    before, after = changed
                    person_after = {key: value for key, value in after.items() if key not in SCORE_ATTRS}
                    fields = tuple(sorted(person_after))
                    updates[fields].append(
                        {
                            "id": current["id"],
                            **person_after,
                            "updated_at": now,
                            "import_fingerprint": fingerprint,
                            "import_fingerprint_at": now,
                            "import_row_count": count,
                        }
                    )
                    audits.append(
                        (
                            current["id"],
                            row.line,
                            {k: _plain(before[k]) for k in after},
                            {k: _plain(v) for k, v in after.items()},
                        )
                    )
                    _count_outcome(result, row, "updated")
                else:
                    stored = (current["import_fingerprint"], current["import_row_count"])
                    if count is not None and stored != (fingerprint, count):
                        fingerprinted.append((fingerprint, count, current["id"]))
                    _count_outcome(result, row, "unchanged")
        if new_accounts:
            result.accounts_created += self._create_accounts(new_accounts, now)
            for row, account in account_requests:
                self._link_new_account(row, account["id"], now, inserts, updates, matches)
        ids = allocate_ids(Person, len(inserts))
        for person, person_id in zip(inserts, ids, strict=True):
            person["id"] = person_id
        for change in stage_changes:
            if "person" in change:
                change["person_id"] = change.pop("person")["id"]
        for match in matches:
            if "person" in match:
                match["person_id"] = match.pop("person")["id"]
        self.inserter.write(Person, inserts)
        # Every person has a row of scores (tandem.scoring): imported values, else 0 until scored.
        self.inserter.write(
            PersonScore,
            [
                {**NO_SCORES, **scores, "person_id": person["id"]}
                for person, scores in zip(inserts, insert_scores, strict=True)
            ],
        )
        self.inserter.upsert(
            PersonScore,
            [{"person_id": person_id, **scores} for person_id, scores in score_updates.items()],
            unique_fields=["person"],
            update_fields=list(SCORE_ATTRS),
        )
        for fields, items in updates.items():
            if fields == LINKED_ACCOUNT:
                self.inserter.update(Person, ["account_id", "updated_at"], items)
            else:
                marks = ["import_fingerprint", "import_fingerprint_at", "import_row_count"]
                self.inserter.update(Person, [*fields, "updated_at", *marks], items)
        if fingerprinted:
            # Records the file leaves as they are keep its fingerprint, so that the next run skips them.
            from django.db import connection

            for table, items in self.inserter.tables_for(Person, fingerprinted, itemgetter(2)):
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {connection.ops.quote_name(table)} SET import_fingerprint = %s, "  # noqa: S608
                        "import_row_count = %s, import_fingerprint_at = updated_at WHERE id = %s",
                        items,
                    )
        self.inserter.write(StageChange, stage_changes)
        self.inserter.write(AccountMatch, matches)
        self.audit_updates("crm.person", audits)
        return result

    def _insert(self, row, account_id, method, domain, now, inserts, stage_changes, matches):
        values = row.values
        stage_key = values.get("lifecycle_stage") or "lead"
        stage = self.stages[stage_key]
        created_at = values.get("created_at") or now
        person = values.copy()
        for name in self._not_columns:
            person.pop(name, None)
        for name, attname in self._renamed:
            if name in person:
                person[attname] = person.pop(name)
        person.update(
            lifecycle_stage_id=stage_key,
            lead_status_id=values.get("lead_status") or stage.lead_status_on_entry_id,
            account_id=account_id,
            custom_fields=row.custom,
            stage_entered_at=created_at,
            last_activity_at=created_at,
            created_at=created_at,
            updated_at=now,
        )
        inserts.append(person)
        row.person = person
        stage_changes.append(self._stage_change(person, None, stage_key, created_at, row.line))
        if account_id:
            matches.append(self._match(person, account_id, None, method, domain, now))

    def _update(self, row, current, account_id, method, domain, now, stage_changes, matches, result):
        values = row.values
        after, before = {}, {}
        for name, value in values.items():
            attname = self.FIELD_ATTRS.get(name)
            if attname is None or attname == "created_at" and current.get("created_at") == value:
                continue
            if current.get(attname) != value:
                before[attname], after[attname] = current.get(attname), value
        if row.custom:
            merged = {**(current["custom_fields"] or {}), **row.custom}
            if merged != current["custom_fields"]:
                before["custom_fields"], after["custom_fields"] = current["custom_fields"], merged
        wanted = values.get("lifecycle_stage")
        present = current["lifecycle_stage_id"]
        if wanted and wanted != present:
            if self._is_forward(present, wanted) or self.mapping.allow_backward:
                before["lifecycle_stage_id"], after["lifecycle_stage_id"] = present, wanted
                after["stage_entered_at"] = now
                before["stage_entered_at"] = None
                entry_status = self.stages[wanted].lead_status_on_entry_id
                if "lead_status" not in values and entry_status and current.get("lead_status_id") != entry_status:
                    before["lead_status_id"], after["lead_status_id"] = current.get("lead_status_id"), entry_status
                stage_changes.append(self._stage_change({"id": current["id"]}, present, wanted, now, row.line))
            else:
                result.notes["stage_not_moved_backward"] += 1
                self.tainted.add(row.key)
        if (
            account_id
            and account_id != current["account_id"]
            and (method == MatchMethod.IMPORT or not current["account_id"])
        ):
            before["account_id"], after["account_id"] = current["account_id"], account_id
            matches.append(self._match({"id": current["id"]}, account_id, current["account_id"], method, domain, now))
        row.person = {"id": current["id"], "account_id": after.get("account_id", current["account_id"])}
        return (before, after) if after else None

    def _is_forward(self, present: str, wanted: str) -> bool:
        old, new = self.stages[present], self.stages[wanted]
        return not old.is_side_stage and not new.is_side_stage and new.position > old.position

    def _stage_change(self, person, from_stage, to_stage, at, line):
        return {
            "person": person,
            "from_stage_id": from_stage,
            "to_stage_id": to_stage,
            "at": at,
            "actor_type": ActorType.IMPORT,
            "actor_user_id": self.actor_user_id,
            "actor_label": self.label[:200],
            "reason": "Stage from an imported file",
            "evidence": self.evidence(line),
        }

    def _match(self, person, account_id, previous, method, domain, now):
        return {
            "person": person,
            "account_id": account_id,
            "previous_account_id": previous,
            "method": method,
            "matched_domain": domain,
            "matched_at": now,
            "matched_by_id": self.actor_user_id,
        }

    def _create_accounts(self, new_accounts: dict[str, dict], now) -> int:
        items = list({id(account): account for account in new_accounts.values()}.values())
        ids = allocate_ids(Account, len(items))
        rows, domains = [], []
        for account, account_id in zip(items, ids, strict=True):
            account["id"] = account_id
            rows.append(
                {
                    "id": account_id,
                    "name": account["name"][:200],
                    "domain": account["domain"],
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if account["domain"]:
                domains.append({"account_id": account_id, "domain": account["domain"]})
            self.accounts.add(account_id, name=account["name"], domain=account["domain"])
        self.inserter.write(Account, rows)
        self.inserter.write(AccountDomain, domains)
        return len(rows)

    def _link_new_account(self, row, account_id, now, inserts, updates, matches):
        person = row.person
        if person.get("account_id") == account_id:
            return
        if "lifecycle_stage_id" in person:  # a new person: not written yet
            person["account_id"] = account_id
            matches.append(self._match(person, account_id, None, MatchMethod.IMPORT, "", now))
            return
        updates[LINKED_ACCOUNT].append({"id": person["id"], "account_id": account_id, "updated_at": now})
        matches.append(
            self._match({"id": person["id"]}, account_id, person.get("account_id"), MatchMethod.IMPORT, "", now)
        )


class AccountWriter(BaseWriter):
    kind = "accounts"
    FIELD_ATTRS = {
        "external_id": "external_id",
        "name": "name",
        "domain": "domain",
        "industry": "industry",
        "employee_count": "employee_count",
        "annual_revenue": "annual_revenue",
        "country": "country",
        "region": "region",
        "owner": "owner_id",
        "icp_tier": "icp_tier",
        "is_target_account": "is_target_account",
        "created_at": "created_at",
    }

    def __init__(self, plan, *, run, actor):
        super().__init__(plan, run=run, actor=actor)
        self.users = UserDirectory() if "owner" in plan.fields else None
        self.accounts = AccountDirectory()
        self.stages = {stage.key: stage for stage in LifecycleStage.objects.all()}

    def tokens(self, row):
        values = row.values
        if "external_id" in values:
            return [("x", values["external_id"])]
        if "domain" in values:
            return [("d", values["domain"])]
        if "name" in values:
            return [("n", values["name"].casefold())]
        return []

    def check(self, row):
        values = row.values
        if not self.tokens(row) and not row.errors:
            row.error("Name", "an account needs an external id, a domain or a name")
        if "owner" in values:
            owner_id, problem = self.users.resolve(values["owner"])
            if problem:
                row.error("Owner", problem)
            values["owner"] = owner_id
        if "employee_count" in values and not 0 <= values["employee_count"] <= 2_147_483_647:
            row.error("Employees", f"{values['employee_count']} is not a head count")
        if "annual_revenue" in values and abs(values["annual_revenue"]) >= Decimal("1e14"):
            row.error("Annual revenue", f"{values['annual_revenue']} is too large")
        if "icp_tier" in values and not 0 <= values["icp_tier"] <= 32767:
            row.error("ICP tier", f"{values['icp_tier']} is out of range")

    def _find(self, values) -> int | None:
        accounts = self.accounts
        if "external_id" in values:
            return accounts.by_external_id.get(values["external_id"])
        if "domain" in values:
            return accounts.by_domain.get(values["domain"])
        key = values["name"].casefold()
        return None if key in accounts.ambiguous_names else accounts.by_name.get(key)

    def write(self, batch):
        result = BatchResult()
        rows = self.merge_batch(batch, result)
        if not rows:
            return result
        now = timezone.now()
        found_ids = {row.line: self._find(row.values) for row in rows}
        columns = ["id", "lifecycle_stage_id", "custom_fields", *self.FIELD_ATTRS.values()]
        current_by_id = {
            item["id"]: item
            for item in Account.objects.filter(id__in=[i for i in found_ids.values() if i]).values(*columns)
        }
        inserts, updates, domains, stage_changes, audits = [], defaultdict(list), [], [], []
        for row in rows:
            values = row.values
            account_id = found_ids[row.line]
            domain = values.get("domain")
            if domain:
                holder = self.accounts.by_domain.get(domain)
                if holder and holder != account_id:
                    row.error("Domain", f"'{domain}' already belongs to account #{holder}")
            if account_id is None and "name" not in values:
                row.error("Name", "a new account needs a name")
            if row.errors:
                result.rejected.append(row)
                continue
            if account_id is None:
                account = {self.FIELD_ATTRS[n]: v for n, v in values.items() if n in self.FIELD_ATTRS}
                created_at = values.get("created_at") or now
                account.update(custom_fields=row.custom, created_at=created_at, updated_at=now)
                stage = values.get("lifecycle_stage")
                if stage:
                    account["lifecycle_stage_id"] = stage
                    stage_changes.append(self._stage_change(account, None, stage, created_at, row.line))
                inserts.append(account)
                _count_outcome(result, row, "created")
                continue
            current = current_by_id[account_id]
            before, after = {}, {}
            for name, value in values.items():
                attname = self.FIELD_ATTRS.get(name)
                if attname and current.get(attname) != value:
                    before[attname], after[attname] = current.get(attname), value
            if row.custom:
                merged = {**(current["custom_fields"] or {}), **row.custom}
                if merged != current["custom_fields"]:
                    before["custom_fields"], after["custom_fields"] = current["custom_fields"], merged
            wanted, present = values.get("lifecycle_stage"), current["lifecycle_stage_id"]
            if wanted and wanted != present:
                if present is None or self._is_forward(present, wanted) or self.mapping.allow_backward:
                    before["lifecycle_stage_id"], after["lifecycle_stage_id"] = present, wanted
                    stage_changes.append(self._stage_change({"id": account_id}, present, wanted, now, row.line))
                else:
                    result.notes["stage_not_moved_backward"] += 1
            if domain and "domain" in after:
                domains.append({"account_id": account_id, "domain": domain})
            if after:
                updates[tuple(sorted(after))].append({"id": account_id, **after, "updated_at": now})
                audits.append(
                    (
                        account_id,
                        row.line,
                        {k: _plain(before[k]) for k in after},
                        {k: _plain(v) for k, v in after.items()},
                    )
                )
                _count_outcome(result, row, "updated")
            else:
                _count_outcome(result, row, "unchanged")
        ids = allocate_ids(Account, len(inserts))
        for account, account_id in zip(inserts, ids, strict=True):
            account["id"] = account_id
            self.accounts.add(
                account_id,
                external_id=account.get("external_id"),
                name=account.get("name", ""),
                domain=account.get("domain", ""),
            )
            if account.get("domain"):
                domains.append({"account_id": account_id, "domain": account["domain"]})
        for change in stage_changes:
            change["account_id"] = change.pop("account")["id"]
        self.inserter.write(Account, inserts)
        for fields, items in updates.items():
            self.inserter.update(Account, [*fields, "updated_at"], items)
        known = set(
            AccountDomain.objects.filter(domain__in=[d["domain"] for d in domains]).values_list("domain", flat=True)
        )
        self.inserter.write(AccountDomain, [d for d in domains if d["domain"] not in known])
        self.inserter.write(StageChange, stage_changes)
        self.audit_updates("crm.account", audits)
        return result

    def _is_forward(self, present, wanted):
        old, new = self.stages[present], self.stages[wanted]
        return not old.is_side_stage and not new.is_side_stage and new.position > old.position

    def _stage_change(self, account, from_stage, to_stage, at, line):
        return {
            "account": account,
            "from_stage_id": from_stage,
            "to_stage_id": to_stage,
            "at": at,
            "actor_type": ActorType.IMPORT,
            "actor_user_id": self.actor_user_id,
            "actor_label": self.label[:200],
            "reason": "Stage from an imported file",
            "evidence": self.evidence(line),
        }


class OpportunityWriter(BaseWriter):
    kind = "opportunities"
    FIELD_ATTRS = {
        "external_id": "external_id",
        "name": "name",
        "amount": "amount",
        "currency": "currency",
        "stage": "stage_id",
        "probability": "probability",
        "forecast_category": "forecast_category",
        "close_date": "close_date",
        "owner": "owner_id",
        "lost_reason": "lost_reason",
        "created_at": "created_at",
    }

    def __init__(self, plan, *, run, actor):
        super().__init__(plan, run=run, actor=actor)
        self.users = UserDirectory() if "owner" in plan.fields else None
        self.accounts = AccountDirectory()
        self.stages = {stage.key: stage for stage in OpportunityStage.objects.all()}
        self.campaigns = {}
        if "source_campaign" in plan.fields:
            for campaign_id, name in Campaign.objects.values_list("id", "name"):
                self.campaigns.setdefault(name.strip().casefold(), campaign_id)

    def tokens(self, row):
        values = row.values
        if "external_id" in values:
            return [("x", values["external_id"])]
        if "name" in values:
            return [("n", values.get("account_id"), values["name"].casefold())]
        return []

    def check(self, row):
        values = row.values
        if "amount" in values:
            amount, written_currency = values["amount"]
            values["amount"] = amount
            if written_currency:
                if values.get("currency", written_currency) != written_currency:
                    row.error(
                        "Amount",
                        f"the amount is in {written_currency} but the currency column says {values['currency']}",
                    )
                values.setdefault("currency", written_currency)
            if abs(amount) >= Decimal("1e14"):
                row.error("Amount", f"{amount} is too large")
        if "probability" in values and not 0 <= values["probability"] <= 100:
            row.error("Probability %", f"{values['probability']} is not between 0 and 100")
        if "owner" in values:
            owner_id, problem = self.users.resolve(values["owner"])
            if problem:
                row.error("Owner", problem)
            values["owner"] = owner_id
        account_id = None
        accounts = self.accounts
        if "account_external_id" in values:
            account_id = accounts.by_external_id.get(values["account_external_id"])
            if account_id is None:
                row.error("Account external id", f"no account has the external id '{values['account_external_id']}'")
        elif "account_domain" in values:
            account_id = accounts.by_domain.get(values["account_domain"])
            if account_id is None:
                row.error("Account domain", f"no account has the domain '{values['account_domain']}'")
        elif "account_name" in values:
            key = values["account_name"].casefold()
            if key in accounts.ambiguous_names:
                row.error("Account name", f"more than one account is named '{values['account_name']}'")
            account_id = accounts.by_name.get(key)
            if account_id is None and key not in accounts.ambiguous_names:
                row.error("Account name", f"no account is named '{values['account_name']}' (import accounts first)")
        values["account_id"] = account_id
        if "source_campaign" in values:
            campaign_id = self.campaigns.get(values["source_campaign"].casefold())
            if campaign_id is None:
                row.error("Source campaign", f"no campaign is named '{values['source_campaign']}'")
            values["source_campaign_id"] = campaign_id
        if "external_id" not in values and "name" not in values:
            row.error("Name", "an opportunity needs an external id or a name")

    def _existing(self, rows):
        columns = [
            "id",
            "external_id",
            "account_id",
            "primary_person_id",
            "source_campaign_id",
            "custom_fields",
            "is_closed",
            "is_won",
            "closed_at",
            *self.FIELD_ATTRS.values(),
        ]
        columns = list(dict.fromkeys(columns))
        external_ids = [row.values["external_id"] for row in rows if "external_id" in row.values]
        by_external_id = {}
        if external_ids:
            for item in Opportunity.objects.filter(external_id__in=external_ids).values(*columns):
                by_external_id[item["external_id"]] = item
        by_name = {}
        named = [row.values for row in rows if "external_id" not in row.values]
        if named:
            condition = Q()
            for values in named:
                condition |= Q(account_id=values["account_id"], name__iexact=values["name"])
            for item in Opportunity.objects.filter(condition).values(*columns):
                by_name.setdefault((item["account_id"], item["name"].casefold()), item)
        return by_external_id, by_name

    def _people(self, rows) -> dict[str, int]:
        emails = {row.values["primary_person_email"] for row in rows if "primary_person_email" in row.values}
        if not emails:
            return {}
        query = Person.objects.annotate(email_key=Lower("email")).filter(email_key__in=emails)
        return {email.lower(): person_id for person_id, email in query.values_list("id", "email")}

    def write(self, batch):
        result = BatchResult()
        rows = self.merge_batch(batch, result)
        if not rows:
            return result
        now = timezone.now()
        by_external_id, by_name = self._existing(rows)
        people = self._people(rows)
        inserts, updates, stage_changes, audits = [], defaultdict(list), [], []
        for row in rows:
            values = row.values
            if "primary_person_email" in values:
                person_id = people.get(values["primary_person_email"])
                if person_id is None:
                    row.error("Primary person's email", f"no person has the email '{values['primary_person_email']}'")
                values["primary_person_id"] = person_id
            if "external_id" in values:
                current = by_external_id.get(values["external_id"])
            else:
                current = by_name.get((values["account_id"], values["name"].casefold()))
            if current is None and "stage" not in values:
                row.error("Stage", "a new opportunity needs a stage")
            if current is None and "name" not in values:
                row.error("Name", "a new opportunity needs a name")
            if row.errors:
                result.rejected.append(row)
                continue
            if values.get("account_id") is None and (current is None or current["account_id"] is None):
                result.notes["opportunities_without_account"] += 1
            if current is None:
                inserts.append(self._new(row, now, stage_changes))
                _count_outcome(result, row, "created")
                continue
            before, after = {}, {}
            for name, value in values.items():
                attname = self.FIELD_ATTRS.get(name) or (
                    name if name in ("account_id", "primary_person_id", "source_campaign_id") else None
                )
                if attname is None or attname == "stage_id":
                    continue
                if name == "account_id" and value is None:
                    continue
                if current.get(attname) != value:
                    before[attname], after[attname] = current.get(attname), value
            if row.custom:
                merged = {**(current["custom_fields"] or {}), **row.custom}
                if merged != current["custom_fields"]:
                    before["custom_fields"], after["custom_fields"] = current["custom_fields"], merged
            wanted, present = values.get("stage"), current["stage_id"]
            if wanted and wanted != present:
                if self.stages[wanted].position > self.stages[present].position or self.mapping.allow_backward:
                    stage = self.stages[wanted]
                    before["stage_id"], after["stage_id"] = present, wanted
                    for attname, value in self._stage_fields(stage, values, now).items():
                        if current.get(attname) != value:
                            before[attname], after[attname] = current.get(attname), value
                    stage_changes.append(
                        self._stage_change(
                            {"id": current["id"]},
                            present,
                            wanted,
                            after.get("amount", current["amount"]),
                            now,
                            row.line,
                        )
                    )
                else:
                    result.notes["stage_not_moved_backward"] += 1
            if after:
                updates[tuple(sorted(after))].append({"id": current["id"], **after, "updated_at": now})
                audits.append(
                    (
                        current["id"],
                        row.line,
                        {k: _plain(before[k]) for k in after},
                        {k: _plain(v) for k, v in after.items()},
                    )
                )
                _count_outcome(result, row, "updated")
            else:
                _count_outcome(result, row, "unchanged")
        ids = allocate_ids(Opportunity, len(inserts))
        for opportunity, opportunity_id in zip(inserts, ids, strict=True):
            opportunity["id"] = opportunity_id
        for change in stage_changes:
            change["opportunity_id"] = change.pop("opportunity")["id"]
        self.inserter.write(Opportunity, inserts)
        for fields, items in updates.items():
            self.inserter.update(Opportunity, [*fields, "updated_at"], items)
        self.inserter.write(OpportunityStageChange, stage_changes)
        self.audit_updates("crm.opportunity", audits)
        return result

    def _stage_fields(self, stage, values, now) -> dict:
        fields = {
            "probability": values.get("probability", stage.probability),
            "forecast_category": values.get("forecast_category", stage.forecast_category),
            "is_closed": stage.is_closed,
            "is_won": stage.is_won,
        }
        if stage.is_closed:
            close_date = values.get("close_date")
            fields["closed_at"] = dt.datetime.combine(close_date, dt.time(12), tzinfo=dt.UTC) if close_date else now
        else:
            fields["closed_at"] = None
        return fields

    def _new(self, row, now, stage_changes) -> dict:
        values = row.values
        stage = self.stages[values["stage"]]
        opportunity = {self.FIELD_ATTRS[n]: v for n, v in values.items() if n in self.FIELD_ATTRS}
        for name in ("account_id", "primary_person_id", "source_campaign_id"):
            if values.get(name) is not None:
                opportunity[name] = values[name]
        created_at = values.get("created_at") or now
        opportunity.update(self._stage_fields(stage, values, now))
        opportunity.update(custom_fields=row.custom, created_at=created_at, updated_at=now)
        opportunity.setdefault("amount", Decimal(0))
        stage_changes.append(
            self._stage_change(opportunity, None, stage.key, opportunity["amount"], created_at, row.line)
        )
        if stage.is_closed:
            closed_at = opportunity["closed_at"]
            if closed_at and closed_at > created_at and stage_changes[-1]["at"] != closed_at:
                stage_changes[-1]["at"] = closed_at
        return opportunity

    def _stage_change(self, opportunity, from_stage, to_stage, amount, at, line):
        return {
            "opportunity": opportunity,
            "from_stage_id": from_stage,
            "to_stage_id": to_stage,
            "amount": amount,
            "at": at,
            "actor_type": ActorType.IMPORT,
            "actor_user_id": self.actor_user_id,
            "actor_label": self.label[:200],
            "reason": f"Stage from an imported file (import #{self.run.pk}, line {line})",
        }


class TouchpointWriter(BaseWriter):
    """Touchpoints are facts: one already stored (same event id) is left as it is."""

    kind = "touchpoints"
    TEXT_FIELDS = (
        "anonymous_id",
        "type",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "url",
        "referrer",
        "occurred_at",
        "properties",
    )

    def __init__(self, plan, *, run, actor):
        super().__init__(plan, run=run, actor=actor)
        self.campaigns = {name.strip().casefold(): pk for pk, name in Campaign.objects.values_list("id", "name")}

    def tokens(self, row):
        return [("x", row.values["client_event_id"])] if "client_event_id" in row.values else []

    def check(self, row):
        values = row.values
        if "type" not in values:
            row.error("Type", "a touchpoint needs a type")
        if "occurred_at" not in values:
            row.error("Occurred at", "a touchpoint needs the time it happened")
        if not any(name in values for name in ("person_email", "person_external_id", "anonymous_id")):
            row.error("Person's email", "a touchpoint needs a person (email or external id) or an anonymous id")
        if row.errors:
            return
        if "client_event_id" not in values:
            # A stable id from the row's content, so that importing the same file again adds nothing.
            parts = [
                str(values.get(name, ""))
                for name in (
                    "person_email",
                    "person_external_id",
                    "anonymous_id",
                    "type",
                    "occurred_at",
                    "url",
                    "campaign",
                )
            ]
            values["client_event_id"] = "import-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]

    def write(self, batch):
        result = BatchResult()
        rows = self.merge_batch(batch, result)
        if not rows:
            return result
        now = timezone.now()
        # Client event ids are unique through TouchpointKey, shared with the event API.
        present = set(
            TouchpointKey.objects.filter(client_event_id__in=[r.values["client_event_id"] for r in rows]).values_list(
                "client_event_id", flat=True
            )
        )
        emails = {r.values["person_email"] for r in rows if "person_email" in r.values}
        external_ids = {r.values["person_external_id"] for r in rows if "person_external_id" in r.values}
        people_by_email = (
            dict(
                Person.objects.annotate(email_key=Lower("email"))
                .filter(email_key__in=emails)
                .values_list("email_key", "id")
            )
            if emails
            else {}
        )
        people_by_external_id = (
            dict(Person.objects.filter(external_id__in=external_ids).values_list("external_id", "id"))
            if external_ids
            else {}
        )
        inserts, activity = [], {}
        new_campaigns = {}
        for row in rows:
            values = row.values
            if values["client_event_id"] in present:
                _count_outcome(result, row, "unchanged")
                continue
            person_id = None
            if "person_external_id" in values:
                person_id = people_by_external_id.get(values["person_external_id"])
                if person_id is None:
                    row.error("Person's external id", f"no person has the external id '{values['person_external_id']}'")
            elif "person_email" in values:
                person_id = people_by_email.get(values["person_email"])
                if person_id is None:
                    row.error(
                        "Person's email", f"no person has the email '{values['person_email']}' (import people first)"
                    )
            if row.errors:
                result.rejected.append(row)
                continue
            touchpoint = {name: values[name] for name in self.TEXT_FIELDS if name in values}
            touchpoint.update(client_event_id=values["client_event_id"], person_id=person_id)
            if "campaign" in values:
                key = values["campaign"].casefold()
                if key not in self.campaigns and key not in new_campaigns:
                    new_campaigns[key] = {
                        "name": values["campaign"],
                        "channel": values.get("channel") or Channel.DIRECT,
                    }
                touchpoint["campaign_key"] = key
            inserts.append(touchpoint)
            if person_id and (person_id not in activity or activity[person_id] < values["occurred_at"]):
                activity[person_id] = values["occurred_at"]
            _count_outcome(result, row, "created")
        if new_campaigns:
            ids = allocate_ids(Campaign, len(new_campaigns))
            campaign_rows = []
            for (key, campaign), campaign_id in zip(new_campaigns.items(), ids, strict=True):
                campaign_rows.append({"id": campaign_id, **campaign, "created_at": now, "updated_at": now})
                self.campaigns[key] = campaign_id
            self.inserter.write(Campaign, campaign_rows)
            result.notes["campaigns_created"] += len(campaign_rows)
        for touchpoint in inserts:
            key = touchpoint.pop("campaign_key", None)
            if key:
                touchpoint["campaign_id"] = self.campaigns[key]
        self.inserter.write(
            TouchpointKey,
            [{"client_event_id": t["client_event_id"], "occurred_at": t["occurred_at"]} for t in inserts],
        )
        self.inserter.write(Touchpoint, inserts)
        if activity:
            from django.db import connection

            with connection.cursor() as cursor:
                table = connection.ops.quote_name(Person._meta.db_table)
                sql = f"UPDATE {table} SET last_activity_at = %s WHERE id = %s AND last_activity_at < %s"  # noqa: S608
                adapt = connection.ops.adapt_datetimefield_value
                cursor.executemany(sql, [(adapt(at), pid, adapt(at)) for pid, at in activity.items()])
        return result


class UserWriter(BaseWriter):
    """Users and their teams, e.g. a sales roster: few rows, written through the ORM."""

    kind = "users"

    def tokens(self, row):
        return [("e", row.values["email"])] if "email" in row.values else []

    def check(self, row):
        if "email" not in row.values:
            row.error("Email", "a user needs an email (map a column or give an email template)")

    def write(self, batch):
        from tandem.users.models import MANAGER_ROLES, ROLE_SIDES, Role, Team, User

        result = BatchResult()
        rows = self.merge_batch(batch, result)
        directory = UserDirectory()
        for row in rows:
            values = row.values
            role = values.get("role") or Role.AE
            manager = None
            if values.get("team_manager"):
                manager_id, problem = directory.resolve(values["team_manager"])
                if manager_id is None and "@" not in values["team_manager"]:
                    manager_email = self._manager_email(row)
                    if manager_email:
                        manager_id = directory.by_email.get(manager_email)
                        if manager_id is None:
                            side = ROLE_SIDES[Role(role)]
                            manager_role = Role.SALES_MANAGER if side == "sales" else Role.MARKETING_MANAGER
                            manager = User.objects.create_user(
                                manager_email, None, full_name=values["team_manager"], role=manager_role
                            )
                            directory.by_email[manager_email] = manager.pk
                            directory.by_name[values["team_manager"].strip().casefold()] = manager.pk
                            result.notes["managers_created"] += 1
                            manager_id = manager.pk
                    problem = "" if manager_id else problem
                if problem:
                    row.error("Team manager", problem)
                    result.rejected.append(row)
                    continue
                manager = User.objects.get(pk=manager_id)
            team = None
            if values.get("team"):
                team, _ = Team.objects.get_or_create(
                    name=values["team"][:100], defaults={"side": ROLE_SIDES[Role(role)]}
                )
                if manager and team.manager_id is None:
                    team.manager = manager
                    team.save(update_fields=["manager"])
                if manager and manager.team_id is None and manager.role in MANAGER_ROLES:
                    manager.team = team
                    manager.save(update_fields=["team"])
            user = User.objects.filter(email=values["email"]).first()
            if user is None:
                user = User.objects.create_user(
                    values["email"], None, full_name=values.get("full_name", ""), role=role, team=team
                )
                directory.by_email[user.email] = user.pk
                _count_outcome(result, row, "created")
                continue
            changes = {}
            if values.get("full_name") and user.full_name != values["full_name"]:
                changes["full_name"] = values["full_name"]
            if values.get("role") and user.role != values["role"]:
                changes["role"] = values["role"]
            if team and user.team_id != team.pk:
                changes["team"] = team
            if changes:
                for name, value in changes.items():
                    setattr(user, name, value)
                user.save(update_fields=list(changes))
                _count_outcome(result, row, "updated")
            else:
                _count_outcome(result, row, "unchanged")
        return result

    def _manager_email(self, row) -> str:
        from tandem.imports.mapping import render_template

        template = self.mapping.templates.get("email", "")
        manager_column = next((c.header for c in self.plan.columns if c.field == "team_manager"), None)
        if not template or not manager_column:
            return ""
        by_header = {name.strip().casefold(): cell for name, cell in zip(self.plan.header, row.raw, strict=False)}
        for column in self.plan.columns:
            if column.field == "full_name":
                by_header[column.header.strip().casefold()] = by_header[manager_column.strip().casefold()]
        return render_template(template, by_header).strip().lower()
