"""Reading rules: the text syntax, the structured form, the canonical text, and errors that say where."""

import pytest

from tandem.lib.rules import RuleError, default_catalogue, parse


def error_of(condition) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse(condition)
    return caught.value


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        (
            "account.industry IN ['Software','Fintech'] AND account.employee_count BETWEEN 50 AND 1000",
            'account.industry in ["Software", "Fintech"] and account.employee_count between 50 and 1000',
        ),
        ("count( form_submit ,last 30 day )>=1", "count(form_submit, last 30 days) >= 1"),
        (
            "count(page_view where url contains '/pricing', last 14 days) >= 2",
            'count(page_view where url contains "/pricing", last 14 days) >= 2',
        ),
        (
            'not (email ends with "@gmail.com") or title contains any ["VP", "Head", "Chief"]',
            'not (email ends with "@gmail.com") or title contains any ["VP", "Head", "Chief"]',
        ),
        ("person.fit_score >= 60 and engagement_score >= 40", "person.fit_score >= 60 and engagement_score >= 40"),
        ('custom.segment == "enterprise"', 'custom.segment = "enterprise"'),
        ("account.custom.plan is blank", "account.custom.plan is blank"),
        ("lifecycle_stage in [MQL, 'Sal']", 'lifecycle_stage in ["mql", "sal"]'),
        ("count(Form submit, last 1 day) > 0", None),
        ("days since last(any, last 90 days) <= 7", "days since last(any, last 90 days) <= 7"),
        ('account.country <> "de"', 'account.country != "DE"'),
        ('account.country in ["united kingdom", "Germany"]', 'account.country in ["GB", "DE"]'),
        ("a_value_free_of_quotes = 1", None),
        (
            "(fit_score > 1 or fit_score < 0) and title is not blank",
            "(fit_score > 1 or fit_score < 0) and title is not blank",
        ),
        ('title = "say \\"hi\\""', 'title = "say \\"hi\\""'),
    ],
)
def test_rules_read_to_one_canonical_text(written, canonical):
    if canonical is None:
        with pytest.raises(RuleError):
            parse(written)
        return
    assert parse(written).text == canonical


def test_a_rule_lists_the_aggregates_and_columns_it_needs_once_each():
    rule = parse(
        "count(form_submit, last 30 days) >= 1 and (count(form_submit , last 30 days) < 5 or account.industry = 'x')"
        " and days since last(page_view) < 3 and custom.segment = 'a' and days since stage_entered_at > 1"
    )
    assert [aggregate.key for aggregate in rule.aggregates] == ["count(form_submit, last 30 days)", "last(page_view)"]
    assert rule.person_columns == ("custom_fields", "stage_entered_at")
    assert rule.account_columns == ("industry",)


def test_the_structured_form_reads_like_the_text_form():
    rule = parse({"all": ["fit_score >= 60", {"any": ["title contains 'VP'", {"not": "custom.segment is blank"}]}]})
    assert rule.text == 'fit_score >= 60 and (title contains "VP" or not (custom.segment is blank))'


@pytest.mark.parametrize(
    ("condition", "message", "column", "text"),
    [
        (
            'account.industy = "x"',
            "unknown field 'account.industy'; did you mean account.industry",
            1,
            "account.industy",
        ),
        (
            'fit_score >= 1 and industry = "Software"',
            "unknown field 'industry'; did you mean account.industry?",
            20,
            "industry",
        ),
        ('account.employee_count = "50"', 'account.employee_count is a number; "50" is text', 26, '"50"'),
        (
            "account.employee_count between 1000 and 50",
            "between 1000 and 50: the lower bound must come first",
            32,
            "1000 and 50",
        ),
        ("fit_score >= 160", "160 is out of range: fit_score is between 0 and 100", 14, "160"),
        ("account.employee_count > -1", "-1 is out of range: account.employee_count is at least 0", 26, "-1"),
        ('title < "a"', "'<' does not apply to title, which is text", 7, "<"),
        ("title = ", "expected a value, found the end of the rule", 9, ""),
        ("title = VP", "expected a value, found 'VP' (text goes in double quotes)", 9, "VP"),
        ("(fit_score > 1", "expected ')' to close the '(' at column 1, found the end of the rule", 15, ""),
        ("lifecycle_stage = mqll", "unknown lifecycle_stage mqll; did you mean mql?", 19, "mqll"),
        ('lifecycle_stage = "SQLL"', 'unknown lifecycle_stage "SQLL"; did you mean sql?', 19, '"SQLL"'),
        (
            "fit_score >= 60 engagement_score > 1",
            "unexpected 'engagement_score' after a complete condition",
            17,
            "engagement_score",
        ),
        ('title = "abc', "unterminated text: a closing quote is missing", 9, '"'),
        (
            "count(form_submt, last 3 days) >= 1",
            "unknown touchpoint type 'form_submt'; expected any or one of page_view, form_submit",
            7,
            "form_submt",
        ),
        ("count(form_submit, last 0 days) >= 1", "the window must be between 1 and 3,650 days, not 0", 25, "0 days"),
        ("count(form_submit) >= 1.5", "count(form_submit) is compared with a whole number; 1.5 is not one", 23, "1.5"),
        ("count(form_submit, last 30 days) is blank", "a count is never blank", 34, "is blank"),
        (
            "count(page_view where utm_sorce = 'x') > 1",
            "unknown touchpoint field 'utm_sorce'; did you mean utm_source",
            23,
            "utm_sorce",
        ),
        ("days since title > 3", "days since needs a date field; title is text", 12, "title"),
        ("account.is_target_account = 1", "account.is_target_account is true or false; 1 is a number", 29, "1"),
        (
            'created_at > "last week"',
            'created_at takes a date written YYYY-MM-DD; "last week" is not one',
            14,
            '"last week"',
        ),
        ("custom.seats in [1, 'two']", "custom.seats: the values mix number and text; use one kind", 18, "1"),
        ("title in []", "the list is empty", 11, "]"),
        ("fit_score >= 60 and", "expected a condition, found the end of the rule", 20, ""),
        ("fit_score ~ 3", "unexpected character '~'", 11, "~"),
        ("", "the rule is empty", 1, ""),
    ],
)
def test_an_invalid_rule_names_the_bad_part_and_where_it_is(condition, message, column, text):
    error = error_of(condition)
    assert error.message.startswith(message)
    assert (error.line, error.column, error.text) == (1, column, text)


def test_an_error_on_a_later_line_gives_that_line_and_a_caret_under_the_part():
    error = error_of('fit_score >= 60\nand account.industy in ["Software"]')
    assert (error.line, error.column, error.offset) == (2, 5, 20)
    assert error.caret() == 'and account.industy in ["Software"]\n    ^^^^^^^^^^^^^^^'
    assert str(error) == (
        "unknown field 'account.industy'; did you mean account.industry or account.country or account.region? "
        "(line 2, column 5)"
    )
    assert error.as_dict()["caret"] == error.caret()


def test_an_error_in_a_structured_condition_names_its_path():
    error = error_of({"all": ["fit_score >= 1", {"any": ["title is blank", "fit_scor >= 2"]}]})
    assert error.path == "all[1].any[1]"
    assert str(error).startswith("all[1].any[1]: unknown field 'fit_scor'; did you mean fit_score?")
    assert error_of({"any": []}).message == "any takes a non-empty list of conditions"
    assert error_of({"all": ["fit_score > 1"], "any": ["fit_score > 1"]}).message == (
        "expected exactly one of all, any, not; found all, any"
    )
    assert str(error_of({"not": 3})) == "not: expected rule text or a mapping with all, any or not; found int"


def test_rules_too_long_or_too_deep_are_refused_before_work_is_done():
    assert error_of("(" * 60 + "fit_score > 1" + ")" * 60).message == "conditions are nested more than 40 deep"
    assert error_of("fit_score > 1 or " * 700 + "fit_score > 1").message == "the rule is longer than 10,000 characters"


def test_the_catalogue_comes_from_the_models_with_their_kinds_and_choices():
    catalogue = default_catalogue()
    assert catalogue.lookup("account.employee_count").kind == "number"
    assert catalogue.lookup("account.employee_count").minimum == 0
    assert catalogue.lookup("lifecycle_stage").column == "lifecycle_stage_id"
    assert catalogue.lookup("lifecycle_stage").choice_keys[:3] == ["subscriber", "lead", "mql"]
    assert catalogue.lookup("lead_status").choice_keys == [
        "new",
        "attempting",
        "connected",
        "qualified",
        "unqualified",
        "bad_timing",
    ]
    assert catalogue.lookup("account.is_target_account").kind == "bool"
    assert catalogue.lookup("account.country").kind == "choice"
    assert catalogue.lookup("created_at").kind == "date"
    assert catalogue.lookup("channel", "touchpoint").choice_keys[:2] == ["organic_search", "paid_search"]
    assert catalogue.lookup("campaign", "touchpoint").related_column == "name"
    assert catalogue.lookup("industry") is None


def test_a_catalogue_with_a_contracts_own_stages_checks_against_them():
    catalogue = default_catalogue().with_choices("lifecycle_stage", [("lead", "Lead"), ("trial", "Trial")])
    assert parse("lifecycle_stage = Trial", catalogue=catalogue).text == 'lifecycle_stage = "trial"'
    with pytest.raises(RuleError) as caught:
        parse("lifecycle_stage = mql", catalogue=catalogue)
    assert caught.value.message == "unknown lifecycle_stage mql (expected lead, trial)"
